[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# flood.sh: enrichd serves its users fairly (timed figures are in make
# bench; the bounds here are generous, to tell "served" from "starved"):
# - while 32 connections of one unprivileged uid flood the daemon with
#   refused Grant calls (1,250 in each 60 KB write, for 4 s), every root
#   Status answers within 1 s, and real PAM logins get their claims (not
#   the fail=open fallback) within 1 s;
# - another unprivileged uid's Status calls are answered within 1 s too;
# - pipelined "more" calls whose replies add up to well over the 256 KiB
#   output high-water mark all complete within 5 s, not at the 30 s idle
#   timeout;
# - the daemon is still healthy afterwards.
. "$(dirname "$0")/lib.sh"

CHECKS="flood-pipelined-more-complete flood-pipelined-more-large flood-ran flood-root-status-served
flood-other-uid-served flood-logins-with-claims flood-logins-quick flood-daemon-alive
daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
if ! enrich_start_daemon; then
        fail daemon-starts "enrichd did not start"
        exit 1
fi
FLOOD="$PY $HERE/flood.py"

# ---- pipelined "more" calls -----------------------------------------------
# 600 grants (made by root, each a grant.created row) make 600 audit rows;
# 16 AuditList streams (each a page of up to 40 KB) add up to about 640 KB,
# several times the high-water mark. (Refusals would not do: they are
# aggregated into a row or two.) Before the fix, the calls left buffered
# when the output went past it and then drained at once waited for input
# that never came.
"$PY" "$HERE/paging.py" bulk "$SOCK" io.enrich.Grant 600 \
        '{"user": "'"$U1"'", "scopes": ["flood:{i}"], "ttl": 7200, "reason": "pipelined more {i}"}' \
        >"$TMP/bulk-grants.json"
$FLOOD more "$SOCK" 16 300 12 >"$TMP/more.json" 2>"$TMP/more.err"
more() { "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$TMP/more.json" "$1" 2>/dev/null; }
echo "# pipelined more: $(cat "$TMP/more.json" 2>/dev/null)"
show "$TMP/more.err"
check_eq flood-pipelined-more-complete True "$(more 'r["completedRounds"] == r["rounds"]')"
check_eq flood-pipelined-more-large True "$(more 'r["minBytes"] > 2 * 256 * 1024')"

# ---- the flood -------------------------------------------------------------
rm -f "$TMP/flood-started"
$FLOOD flood "$SOCK" "$U1_UID" "$(id -g "$U1")" 4 "$TMP/flood-started" "$U2_UID" "$(id -g "$U2")" \
        >"$TMP/flood.json" 2>"$TMP/flood.err" &
FLOOD_PID=$!
CLEANUP_PIDS="$CLEANUP_PIDS $FLOOD_PID"
poll 100 test -e "$TMP/flood-started" || { echo "# the flood did not start"; show "$TMP/flood.err"; }
# Real logins while it runs: each must find its claims key in its session.
for i in 1 2 3 4 5; do
        "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U2" \
                -- sh -c 'keyctl search @s user enrich:claims >/dev/null' \
                >"$TMP/login$i.out" 2>"$TMP/login$i.err"
        echo $? >"$TMP/login$i.rc"
        sleep 0.3
done
wait "$FLOOD_PID"
flood() { "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$TMP/flood.json" "$1" 2>/dev/null; }
echo "# flood: $(cat "$TMP/flood.json" 2>/dev/null)"
show "$TMP/flood.err"
# The flood must have been one: every connection wrote, and the daemon
# answered at least one full batch.
check_eq flood-ran True "$(flood 'r["floodConnections"] == 32 and r["floodReplies"] >= 1250')"
check_eq flood-root-status-served True "$(flood 'r["root"]["calls"] >= 10 and r["root"]["failed"] == 0 and r["root"]["maxMs"] < 1000')"
check_eq flood-other-uid-served True "$(flood 'r["other"]["calls"] >= 5 and r["other"]["failed"] == 0 and r["other"]["maxMs"] < 1000')"
logins_with_claims() {
        local i bad=0
        for i in 1 2 3 4 5; do
                if [ "$(cat "$TMP/login$i.rc")" != 0 ]; then
                        echo "# login $i: exit $(cat "$TMP/login$i.rc")"
                        show "$TMP/login$i.err"
                        bad=1
                fi
        done
        return $bad
}
check flood-logins-with-claims logins_with_claims
logins_quick() {
        local i ms bad=0
        for i in 1 2 3 4 5; do
                ms=$(pam_ms "$TMP/login$i.err")
                echo "# login $i: pam_open_session ${ms:-?} ms"
                [ -n "$ms" ] && [ "$ms" -lt 1000 ] || bad=1
        done
        return $bad
}
check flood-logins-quick logins_quick
check flood-daemon-alive sh -c "kill -0 $DAEMON_PID && '$ENRICHCTL' --socket '$SOCK' status >/dev/null"
enrich_finish
