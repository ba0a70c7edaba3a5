/* test_fuzz_regress.c — every fuzzing regression (tests/fixtures/fuzz/<target>/) and every
 * seed (tests/fuzz/corpus/<target>/) replayed through the libFuzzer harnesses' own code, built
 * by the normal compiler: a harness invariant that breaks aborts this test. So `make test`
 * keeps every crasher fixed without needing clang. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each harness defines LLVMFuzzerTestOneInput; renamed here so all five live in one binary. */
#define LLVMFuzzerTestOneInput fuzz_csv_one
#include "fuzz_csv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_csv_gz_one
#include "fuzz_csv_gz.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_jpeg_one
#include "fuzz_jpeg.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_sanitize_one
#include "fuzz_sanitize.c"
#undef LLVMFuzzerTestOneInput

typedef int (*Harness)(const uint8_t *data, size_t size);

/* Runs every file of dir through h; returns how many there were. */
static int replay_dir(const char *dir, Harness h)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".md")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        long len = ftell(f);
        assert_true(len >= 0);
        rewind(f);
        uint8_t *buf = malloc((size_t)len + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
        fclose(f);
        print_message("  %s\n", path);
        assert_int_equal(h(buf, (size_t)len), 0);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

static void replay(const char *target, Harness h, int min_seeds)
{
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", target);
    int seeds = replay_dir(dir, h);
    snprintf(dir, sizeof dir, "tests/fixtures/fuzz/%s", target);
    int regressions = replay_dir(dir, h);
    print_message("%s: %d seeds, %d regressions\n", target, seeds, regressions);
    assert_true(seeds >= min_seeds);
}

static void csv(void **state) { (void)state; replay("csv", fuzz_csv_one, 10); }
static void csv_gz(void **state) { (void)state; replay("csv_gz", fuzz_csv_gz_one, 10); }
static void jpeg(void **state) { (void)state; replay("jpeg", fuzz_jpeg_one, 5); }
static void safetensors(void **state) { (void)state; replay("safetensors", fuzz_safetensors_one, 5); }
static void sanitize(void **state) { (void)state; replay("sanitize", fuzz_sanitize_one, 10); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv),         cmocka_unit_test(csv_gz), cmocka_unit_test(jpeg),
        cmocka_unit_test(safetensors), cmocka_unit_test(sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
