[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# groupcommit.sh: group commit loses nothing it acknowledged. Session rows
# and audit records of a turn commit together, and a call is answered only
# once that commit succeeded; so when the daemon is killed (SIGKILL) in the
# middle of 16 clients' Enrich traffic, every sid a client got a reply for
# has its session row and its enrich.issued audit row, and after a restart
# `enrichctl audit verify` accepts the chain. Run five times, at different
# moments of the traffic.
. "$(dirname "$0")/lib.sh"

CHECKS="kill-acked-sessions-stored kill-acked-audit-stored kill-audit-verifies kill-traffic-happened kill-wal-checkpointed
daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup

stored() {
        # stored WHAT: every acked sid has a row (sessions, or enrich.issued audit).
        $PY - "$TMP/state/enrich.db" "$TMP/acked" "$1" <<'PYEOF'
import json, sqlite3, sys
db, acked, what = sys.argv[1], sys.argv[2], sys.argv[3]
sids = [l.strip() for l in open(acked) if l.strip()]
c = sqlite3.connect(db)
if what == "sessions":
    have = {r[0] for r in c.execute("SELECT sid FROM sessions")}
else:
    have = {json.loads(r[0]).get("sid") for r in
            c.execute("SELECT details FROM audit WHERE action = 'enrich.issued'")}
missing = [s for s in sids if s not in have]
if missing:
    print("# %d of %d acknowledged sids have no %s row, e.g. %s" % (len(missing), len(sids), what, missing[0]))
sys.exit(1 if missing else 0)
PYEOF
}

TOTAL=0 LOST=0
for round in 1 2 3 4 5; do
        if ! enrich_start_daemon; then
                fail "daemon-starts" "enrichd did not start (round $round)"
                exit 1
        fi
        OUT=$($PY "$(dirname "$0")/groupcommit_kill.py" "$SOCK" "$DAEMON_PID" "$U1" 16 $((300 + 97 * round)) "$TMP/acked")
        wait "$DAEMON_PID" 2>/dev/null
        DAEMON_PID=""
        echo "# round $round: $OUT"
        # Checkpoints ran meanwhile (db.c's thread): the database file grew
        # past its first pages rather than everything piling up in the WAL.
        if [ "$round" = 1 ]; then
                SIZE=$(stat -c %s "$TMP/state/enrich.db")
                [ "$SIZE" -gt 65536 ] && ok kill-wal-checkpointed ||
                        fail kill-wal-checkpointed "enrich.db is $SIZE bytes after $(wc -l <"$TMP/acked") logins"
        fi
        N=$(wc -l <"$TMP/acked")
        TOTAL=$((TOTAL + N))
        stored sessions || { fail kill-acked-sessions-stored "round $round"; LOST=1; }
        stored audit || { fail kill-acked-audit-stored "round $round"; LOST=1; }
done
[ "$LOST" = 0 ] && ok kill-acked-sessions-stored && ok kill-acked-audit-stored
[ "$TOTAL" -gt 100 ] && ok kill-traffic-happened || fail kill-traffic-happened "only $TOTAL replies"

if enrich_start_daemon; then
        check kill-audit-verifies ctl audit verify
        enrich_stop_daemon
else
        fail kill-audit-verifies "enrichd did not restart"
fi
enrich_finish
