[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# pager.sh: enrichctl's one pager (output.c, ctl_pages) against a stand-in
# daemon (fake_listings.py) that can misbehave:
# - a listing longer than enrichctl shows (CTL_MAX_TABLE_ROWS, 100,000
#   rows) prints the first 100,000, warns and exits 2, as a table and with
#   --json, so a script never takes it for the whole listing;
# - enrichctl audit stops with an error on a daemon whose next does not
#   move on, instead of asking forever;
# - enrichctl audit --limit N asks on one connection, each page for what is
#   still missing, and prints the newest N oldest first.
. "$(dirname "$0")/lib.sh"

CHECKS="pager-truncated-table-exits-error pager-truncated-json-exits-error pager-audit-stuck-stops
pager-audit-limit-pages pager-audit-limit-rows"
enrich_require $CHECKS
enrich_setup
LOG=$TMP/calls.log

# fake MODE: (re)starts the stand-in daemon on $SOCK.
FAKE_PID=""
fake() {
        [ -n "$FAKE_PID" ] && { kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null; }
        rm -f "$SOCK" "$LOG"
        "$PY" "$HERE/fake_listings.py" "$SOCK" "$1" "$LOG" &
        FAKE_PID=$!
        CLEANUP_PIDS="$CLEANUP_PIDS $FAKE_PID"
        poll 50 test -S "$SOCK"
}
jq_() { "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

fake endless
timeout 120 "$ENRICHCTL" --socket "$SOCK" grants --all >"$TMP/table.out" 2>"$TMP/table.err"
code=$?
check_eq pager-truncated-table-exits-error "2 100001 1" \
        "$code $(wc -l <"$TMP/table.out") $(grep -c 'more than 100000 rows' "$TMP/table.err")" || show "$TMP/table.err"
timeout 120 "$ENRICHCTL" --socket "$SOCK" --json grants --all >"$TMP/json.out" 2>"$TMP/json.err"
code=$?
check_eq pager-truncated-json-exits-error "2 100000 1" \
        "$code $(jq_ "$TMP/json.out" 'len(d["grants"])' 2>&1) $(grep -c 'more than 100000 rows' "$TMP/json.err")" ||
        show "$TMP/json.err"

fake stuck
timeout 20 "$ENRICHCTL" --socket "$SOCK" audit >"$TMP/stuck.out" 2>"$TMP/stuck.err"
code=$?
check_eq pager-audit-stuck-stops "2 1" "$code $(grep -c 'does not move on' "$TMP/stuck.err")" || show "$TMP/stuck.err"

fake newest
timeout 20 "$ENRICHCTL" --socket "$SOCK" --json audit --limit 2500 >"$TMP/newest.out" 2>"$TMP/newest.err"
code=$?
check_eq pager-audit-limit-pages "0 1 1000,1000,500" "$(code=$code; "$PY" -c 'import json, sys
calls = [json.loads(l) for l in open(sys.argv[2])]
print(sys.argv[1], len(set(c["conn"] for c in calls)), ",".join(str(c["parameters"].get("limit")) for c in calls))' "$code" "$LOG" 2>&1)" ||
        show "$TMP/newest.err"
check_eq pager-audit-limit-rows "2500 97501 100000 True" \
        "$(jq_ "$TMP/newest.out" '"%d %d %d %s" % (len(d), d[0]["id"], d[-1]["id"], [e["id"] for e in d] == sorted(e["id"] for e in d))' 2>&1)"
enrich_finish
