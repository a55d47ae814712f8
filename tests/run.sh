#!/bin/sh
# tests/run.sh: runs every unit test binary and integration script, counts
# their "ok" / "not ok" / "skip" lines and ends with "N passed, N failed,
# N skipped". Exits non-zero on any failure, or if a test program dies
# without reporting.
B=${ENRICH_BUILD:-build}
cd "$(dirname "$0")/.." || exit 2
export ENRICH_BUILD="$B"
log=$(mktemp) || exit 2
trap 'rm -f "$log"' EXIT INT TERM
passed=0 failed=0 skipped=0 crashed=0

run_one() {
        name=$1; shift
        echo "# $name"
        "$@" >"$log" 2>&1
        rc=$?
        cat "$log"
        p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log"); s=$(grep -c '^skip ' "$log")
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
                echo "not ok $name exited with status $rc"
                failed=$((failed + 1))
        fi
}

for t in "$B"/tests/test_*; do
        [ -x "$t" ] || continue
        run_one "$(basename "$t")" "$t"
done
for t in tests/integration/*.sh; do
        [ "$(basename "$t")" = lib.sh ] && continue
        [ -f "$t" ] || continue
        run_one "$(basename "$t")" sh "$t"
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
