[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# oneway.sh: Varlink "oneway" calls (the Varlink spec: the caller wants no
# reply). Every method of the dispatch table (read from daemon/dispatch.c)
# is called oneway, raw on the socket, as root and as an unprivileged user,
# each followed on the same connection by a plain GetInfo call: the first
# reply must be GetInfo's, so the oneway call answered nothing, errors and
# refusals included. A oneway call is still authorized and audited like a
# normal one (the user's refusals leave permission.denied rows), and still
# does what it asks even when the caller closes right after writing it
# (pam_enrich's close sends EndSession so): a session ends, a grant is made.
. "$(dirname "$0")/lib.sh"

DISPATCH_C=$HERE/../../daemon/dispatch.c
CHECKS="oneway-every-method-root oneway-every-method-user oneway-refusals-audited
oneway-endsession-ends-session oneway-endsession-audited oneway-grant-made oneway-error-answers-nothing
oneway-after-unread-replies-served oneway-after-reset-served daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup

if ! enrich_start_daemon; then
        fail daemon-starts "enrichd did not start"
        exit 1
fi
vc() { "$PY" "$HERE/varlink_call.py" "$SOCK" "$@"; }
ow() { "$PY" "$HERE/oneway.py" "$@"; }

# Effects first, on a fresh instance: a session ended and a grant made by
# a oneway call whose connection closed at once.
sleep 600 &
HOLDER=$!
CLEANUP_PIDS="$CLEANUP_PIDS $HOLDER"
vc io.enrich.Enrich "{\"user\":\"$U1\",\"service\":\"enrich-test\",\"pid\":$HOLDER}" >"$TMP/enrich.out"
SID=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["parameters"]["sid"])' "$TMP/enrich.out")
ow send "$SOCK" io.enrich.EndSession "{\"sid\":\"$SID\"}"
not_listed() { ! vc io.enrich.ListSessions '{}' | grep -q "$SID"; }
check oneway-endsession-ends-session poll 30 not_listed || show "$TMP/enrich.out"
ended_audited() { vc io.enrich.AuditList '{"action":"session.ended","limit":100}' | grep -q "$SID"; }
check oneway-endsession-audited ended_audited
ow send "$SOCK" io.enrich.Grant "{\"user\":\"$U2\",\"scopes\":[\"oneway:yes\"],\"ttl\":600,\"reason\":\"oneway\"}"
granted() { vc io.enrich.ListGrants "{\"user\":\"$U2\"}" | grep -q oneway:yes; }
check oneway-grant-made poll 30 granted
# An error (no such session) goes unanswered too, and the connection
# still serves the next call.
error_silent() {
        "$PY" - "$SOCK" "$SID-none" <<'PYEOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(json.dumps({"method": "io.enrich.EndSession", "parameters": {"sid": sys.argv[2]}, "oneway": True}).encode()
          + b"\0" + json.dumps({"method": "io.enrich.Status"}).encode() + b"\0")
buf = b""
while buf.count(b"\0") < 1:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
first = json.loads(buf.split(b"\0")[0])
sys.exit(0 if "error" not in first and "version" in first.get("parameters", {}) else 1)
PYEOF
}
check oneway-error-answers-nothing error_silent

# A caller that sends calls, a oneway EndSession last, and closes without
# reading a reply: the answers to its first calls go nowhere (the daemon
# finds the peer gone when it flushes them, after one connection's quantum
# of 16 calls), but every call it sent is still served.
sleep 600 &
HOLDER2=$!
CLEANUP_PIDS="$CLEANUP_PIDS $HOLDER2"
vc io.enrich.Enrich "{\"user\":\"$U1\",\"service\":\"enrich-test\",\"pid\":$HOLDER2}" >"$TMP/enrich2.out"
SID2=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["parameters"]["sid"])' "$TMP/enrich2.out")
"$PY" - "$SOCK" "$SID2" <<'PYEOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
calls = [json.dumps({"method": "io.enrich.Status"}).encode() + b"\0"] * 40
calls.append(json.dumps({"method": "io.enrich.EndSession", "parameters": {"sid": sys.argv[2]},
                         "oneway": True}).encode() + b"\0")
s.sendall(b"".join(calls))
s.close()
PYEOF
not_listed2() { ! vc io.enrich.ListSessions '{}' | grep -q "$SID2"; }
check oneway-after-unread-replies-served poll 30 not_listed2

# The same, but a reply already sits unread in the caller's socket when it
# closes: the kernel then ends the daemon's next read with ECONNRESET, after
# the bytes it holds. With more calls than one turn serves, that read comes
# before the last of them is served: they are still served (a reset is the
# peer's end of input, not a reason to drop what it sent).
sleep 600 &
HOLDER3=$!
CLEANUP_PIDS="$CLEANUP_PIDS $HOLDER3"
vc io.enrich.Enrich "{\"user\":\"$U1\",\"service\":\"enrich-test\",\"pid\":$HOLDER3}" >"$TMP/enrich3.out"
SID3=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["parameters"]["sid"])' "$TMP/enrich3.out")
"$PY" - "$SOCK" "$SID3" <<'PYEOF'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(json.dumps({"method": "io.enrich.Status"}).encode() + b"\0")
time.sleep(0.5)  # its reply arrives and stays unread
calls = [json.dumps({"method": "io.enrich.Status"}).encode() + b"\0"] * 1000  # more than one turn serves
calls.append(json.dumps({"method": "io.enrich.EndSession", "parameters": {"sid": sys.argv[2]},
                         "oneway": True}).encode() + b"\0")
s.sendall(b"".join(calls))
s.close()
PYEOF
not_listed3() { ! vc io.enrich.ListSessions '{}' | grep -q "$SID3"; }
check oneway-after-reset-served poll 30 not_listed3

ow every "$SOCK" "$DISPATCH_C" >"$TMP/root.out" 2>&1
check oneway-every-method-root test $? = 0 || show "$TMP/root.out"
as_user "$U2" "$PY" "$HERE/oneway.py" every "$SOCK" "$DISPATCH_C" >"$TMP/user.out" 2>&1
check oneway-every-method-user test $? = 0 || show "$TMP/user.out"

# Each method a user may not call left its permission.denied row.
vc io.enrich.AuditList '{"action":"permission.denied","limit":1000}' >"$TMP/denied.json"
refusals_audited() {
        "$PY" - "$TMP/denied.json" "$DISPATCH_C" "$U2" "$HERE" <<'PYEOF'
import json, pwd, sys
sys.path.insert(0, sys.argv[4])
from access_table import table
uid = pwd.getpwnam(sys.argv[3]).pw_uid
seen = {r["details"].get("method") for r in json.load(open(sys.argv[1]))["parameters"]["entries"]
        if r.get("actorUid") == uid}
want = {name for name, access in table(sys.argv[2]) if access in ("ACCESS_ROOT", "ACCESS_ADMIN")}
missing = sorted(want - seen)
if missing:
    print("# no permission.denied row for:", " ".join(missing))
sys.exit(1 if missing or not want else 0)
PYEOF
}
check oneway-refusals-audited refusals_audited
enrich_stop_daemon
enrich_finish
