/* fuzz_csv.c — libFuzzer harness for the streaming CSV reader (store/csv.c), plain input.
 *
 * Input: two bytes choosing the limits (small, to reach every limit path, or the defaults),
 * then the file. Invariants: the reader terminates; no record has more than max_columns
 * fields or a field longer than max_field; messages name the file and line on one line; and
 * the good records, re-serialised with RFC 4180 quoting and read again, come back identical
 * (so quoting, CRLF, BOM and leniency rules lose nothing and invent nothing). */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_csv_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    CsvLimits lim = limits_from(data);
    data += 2;
    size -= 2;
    /* gzip input has its own harness (fuzz_csv_gz) */
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) return 0;
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    Reading first;
    read_all(path, &lim, size, &first);
    close(fd);
    FUZZ_CHECK(!first.io_error);

    /* Round trip: the re-serialised records are read as the same records. Quoting makes a
     * record longer on disk, so the record limit grows to fit; the others stay. */
    CsvLimits lim2 = lim;
    if (lim2.max_record < first.longest_serialised_record)
        lim2.max_record = first.longest_serialised_record;
    fd = fuzz_memfile(first.csv.b ? (const void *)first.csv.b : (const void *)"", first.csv.n,
                      path, sizeof path);
    Reading second;
    read_all(path, &lim2, first.csv.n, &second);
    close(fd);
    FUZZ_CHECK(second.bad == 0);
    FUZZ_CHECK(second.records == first.records);
    /* compare the records only: the first transcript also holds bad-record outcomes */
    FUZZ_CHECK(second.csv.n == first.csv.n);
    FUZZ_CHECK(first.csv.n == 0 || memcmp(second.csv.b, first.csv.b, first.csv.n) == 0);
    reading_free(&first);
    reading_free(&second);
    return 0;
}
