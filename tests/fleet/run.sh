#!/bin/sh
# tests/fleet/run.sh: `make fleet`: every fleet suite here against real
# etcd processes (tests/fleet/lib.sh starts and removes them), counting
# their "ok" / "not ok" / "skip" lines, ending with "N passed, N failed,
# N skipped" like tests/run.sh. Exits non-zero on any failure.
B=${ENRICH_BUILD:-build}
cd "$(dirname "$0")/../.." || exit 2
export ENRICH_BUILD="$B"
log=$(mktemp) || exit 2
trap 'rm -f "$log"' EXIT INT TERM
passed=0 failed=0 skipped=0

for t in tests/fleet/*.sh; do
        case $(basename "$t") in lib.sh|run.sh) continue ;; esac
        echo "# $(basename "$t")"
        bash "$t" >"$log" 2>&1
        rc=$?
        cat "$log"
        p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log"); s=$(grep -c '^skip ' "$log")
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
                echo "not ok $(basename "$t") exited with status $rc"
                failed=$((failed + 1))
        fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
