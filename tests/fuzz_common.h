/* fuzz_common.h — shared by the libFuzzer harnesses: an in-memory file for readers that take
 * a path, and a check that aborts (a libFuzzer "crash") with a message. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_CHECK(cond)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);         \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

/* Writes data to a memfd and puts "/proc/self/fd/N" into path; returns the fd (close it). */
static inline int fuzz_memfile(const void *data, size_t n, char *path, size_t pn)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        FUZZ_CHECK(w > 0);
        p += w;
        n -= (size_t)w;
    }
    snprintf(path, pn, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
