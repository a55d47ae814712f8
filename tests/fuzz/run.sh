#!/bin/sh
# tests/fuzz/run.sh: `make fuzz`. Runs each libFuzzer target in FUZZ_BUILD
# (build-fuzz/fuzz/) for FUZZ_SECONDS with leak detection and a 5 s
# per-input timeout, starting from the committed corpus
# (tests/fuzz/corpus/TARGET, read-only here) plus the regression inputs;
# new corpus entries go to FUZZ_BUILD/corpus/TARGET. Any crash, leak,
# timeout or out-of-memory input is copied into
# tests/fuzz/regressions/TARGET/ (replayed by `make check` from then on)
# and fails the run. Prints one TAP line per target with its executions and
# coverage.
cd "$(dirname "$0")/../.." || exit 2
FB=${FUZZ_BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/tests/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=0

for bin in "$FB"/fuzz/*; do
        [ -x "$bin" ] || continue
        t=$(basename "$bin")
        work=$FB/corpus/$t
        artifacts=$FB/artifacts/$t
        log=$FB/fuzz-$t.log
        mkdir -p "$work" "$artifacts" "tests/fuzz/corpus/$t"
        rm -f "$artifacts"/*
        set -- "$work" "tests/fuzz/corpus/$t"
        [ -d "tests/fuzz/regressions/$t" ] && set -- "$@" "tests/fuzz/regressions/$t"
        "$bin" -max_total_time="$SECONDS_EACH" -timeout=5 -detect_leaks=1 -rss_limit_mb=2048 \
                -print_final_stats=1 -artifact_prefix="$artifacts/" "$@" >"$log" 2>&1
        rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
        found=$(ls "$artifacts" 2>/dev/null)
        if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
                echo "ok fuzz-$t (${SECONDS_EACH}s, ${execs:-?} executions, coverage ${cov:-?} edges)"
                continue
        fi
        failed=1
        echo "not ok fuzz-$t (exit status $rc; log in $log)"
        grep -m1 -A12 'ERROR: \|runtime error\|Sanitizer' "$log" | sed 's/^/#   /'
        if [ -n "$found" ]; then
                mkdir -p "tests/fuzz/regressions/$t"
                for f in "$artifacts"/*; do
                        cp "$f" "tests/fuzz/regressions/$t/"
                        echo "#   kept $(basename "$f") as tests/fuzz/regressions/$t/$(basename "$f")"
                done
        fi
done
[ "$failed" -eq 0 ]
