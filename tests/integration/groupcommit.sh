[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# groupcommit.sh: group commit loses nothing it acknowledged. Session rows
# and audit records of a turn commit together, and a call is answered only
# once that commit succeeded; so when the daemon is killed (SIGKILL) in the
# middle of 16 clients' Enrich traffic, every sid a client got a reply for
# has its session row and its enrich.issued audit row, and after a restart
# `enrichctl audit verify` accepts the chain. Run five times, at different
# moments of the traffic.
#
# Enrich's signature is made on the signer thread and the call finished
# before its turn commits: a call written right behind an Enrich on the
# same connection (so served in the same turn) already sees its session,
# a oneway Enrich's too, and the replies come in call order.
. "$(dirname "$0")/lib.sh"

CHECKS="pipelined-call-sees-enrich pipelined-oneway-enrich-seen pipelined-replies-in-order kill-acked-sessions-stored kill-acked-audit-stored kill-audit-verifies kill-traffic-happened kill-wal-checkpointed
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

# Enrich, ListSessions, a oneway Enrich and ListSessions again, in one
# write: prints the checks that held.
pipelined() {
        $PY - "$SOCK" "$1" <<'PYEOF'
import json, os, socket, sys
path, user = sys.argv[1], sys.argv[2]
def call(method, params, oneway=False):
    m = {"method": method, "parameters": params}
    if oneway:
        m["oneway"] = True
    return json.dumps(m).encode() + b"\0"
enrich = {"user": user, "service": "enrich-test", "pid": os.getpid()}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(path)
s.sendall(call("io.enrich.Enrich", enrich) + call("io.enrich.ListSessions", {"user": user}) +
          call("io.enrich.Enrich", enrich, oneway=True) + call("io.enrich.ListSessions", {"user": user}))
buf, replies = b"", []
while len(replies) < 3:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
    while b"\0" in buf:
        one, buf = buf.split(b"\0", 1)
        replies.append(json.loads(one))
if len(replies) < 3:
    print("# only %d replies: %s" % (len(replies), replies))
    sys.exit(0)
sid = replies[0].get("parameters", {}).get("sid")
first = replies[1].get("parameters", {}).get("sessions")
second = replies[2].get("parameters", {}).get("sessions")
if sid and "token" in replies[0]["parameters"] and isinstance(first, list) and isinstance(second, list):
    print("pipelined-replies-in-order")
if sid and isinstance(first, list) and any(x.get("sid") == sid for x in first):
    print("pipelined-call-sees-enrich")
else:
    print("# %s not in %s" % (sid, json.dumps(replies[1])[:300]))
if isinstance(first, list) and isinstance(second, list) and len(second) == len(first) + 1:
    print("pipelined-oneway-enrich-seen")
else:
    print("# listed %s, then %s" % (json.dumps(first)[:200], json.dumps(second)[:200]))
PYEOF
}

if enrich_start_daemon; then
        PIPELINED=$(pipelined "$U1")
        for c in pipelined-call-sees-enrich pipelined-oneway-enrich-seen pipelined-replies-in-order; do
                echo "$PIPELINED" | grep -qx "$c" && ok "$c" || fail "$c" "$(echo "$PIPELINED" | grep '^#')"
        done
        enrich_stop_daemon
else
        fail pipelined-call-sees-enrich "enrichd did not start"
fi

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
