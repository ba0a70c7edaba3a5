#!/bin/sh
# Runs each libFuzzer harness for a set time from the committed seeds.
# usage: fuzz.sh SECONDS TARGET...   (targets: csv csv_gz jpeg safetensors sanitize)
#
# Seeds are read from tests/fuzz/corpus/<target>/ (never written); new interesting inputs go to
# build/fuzz/corpus/<target>/, crashers to build/fuzz/crash/<target>/. A crasher found must
# become a regression input in tests/fixtures/fuzz/<target>/ (replayed by test_fuzz_regress).
# Without clang's libFuzzer runtime this prints a SKIP line and succeeds.
set -u
secs=$1; shift
cc=${FUZZ_CC:-clang}
make=${MAKE:-make}
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' > "$probe/p.c"
if ! command -v "$cc" > /dev/null 2>&1 ||
   ! "$cc" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" > "$probe/log" 2>&1; then
    echo "SKIP fuzz: $cc with libFuzzer (-fsanitize=fuzzer) is not available; install clang"
    exit 0
fi
bad=""
for t in "$@"; do
    $make --no-print-directory build/fuzz/fuzz_$t || { echo "FAIL fuzz_$t: build"; bad="$bad $t"; continue; }
    mkdir -p build/fuzz/corpus/$t build/fuzz/crash/$t
    case $t in
        sanitize) maxlen=4096 ;;
        safetensors) maxlen=16384 ;;
        *) maxlen=65536 ;;
    esac
    start=$(date +%s)
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ./build/fuzz/fuzz_$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=512 -max_len=$maxlen -print_final_stats=1 \
        -artifact_prefix=build/fuzz/crash/$t/ \
        build/fuzz/corpus/$t tests/fuzz/corpus/$t > build/fuzz/$t.log 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' build/fuzz/$t.log)
    took=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then
        echo "PASS fuzz_$t: ${runs:-?} inputs in ${took} s, no crash"
    else
        echo "FAIL fuzz_$t: see build/fuzz/$t.log and build/fuzz/crash/$t/"
        grep -E 'ERROR|invariant|SUMMARY|^==' build/fuzz/$t.log | head -20
        bad="$bad $t"
    fi
done
[ -z "$bad" ] || { echo "fuzzing failed:$bad"; exit 1; }
