[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# concurrent.sh: 64 logins at once, each in its own audit session, all get
# distinct keys holding distinct, valid claims bound to their own audit
# session. Every login is a root client of the daemon, so root is exempt
# from the per-uid connection cap (32): with more root connections than
# that open, a login still gets its key, while another uid stays capped.
. "$(dirname "$0")/lib.sh"

N=64
HOLD=40     # connections held open at once, past the per-uid cap of 32
CHECKS="concurrent-all-opened concurrent-all-keys concurrent-distinct-serials
concurrent-all-verified concurrent-distinct-sids concurrent-asid-matches
concurrent-root-past-uid-cap concurrent-login-past-uid-cap concurrent-other-uid-capped daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
if ! enrich_start_daemon; then
        fail "daemon-starts" "enrichd did not start"
        exit 1
fi

# Inside each session, as the user: the key's serial, the audit session id,
# and what libenrich makes of the claims.
cat >"$TMP/inside.sh" <<'EOF'
echo "serial=$(keyctl search @s user enrich:claims 2>/dev/null)"
echo "sessionid=$(cat /proc/self/sessionid)"
ENRICH_JWKS=$1 "$2" --jwks "$1" whoami --json >"$3.whoami" 2>"$3.whoami.err"
echo "whoami=$?"
EOF
mkdir "$TMP/c" && chown "$U1" "$TMP/c"
pids=()
for i in $(seq $N); do
        "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" $AUDIT_FLAG \
                -- sh "$TMP/inside.sh" "$JWKS" "$ENRICHCTL" "$TMP/c/$i" \
                >"$TMP/c/$i.out" 2>"$TMP/c/$i.err" &
        pids+=($!)
        CLEANUP_PIDS="$CLEANUP_PIDS $!"
done
opened=0
for i in $(seq $N); do
        wait "${pids[$((i - 1))]}" && opened=$((opened + 1))
done
check_eq concurrent-all-opened $N $opened || for i in $(seq $N); do
        grep -q '^pam_open_session: Success' "$TMP/c/$i.err" || { show "$TMP/c/$i.err"; break; }
done

field() { sed -n "s/^$1=//p" "$TMP"/c/*.out; }
keys=$(field serial | grep -c .)
check_eq concurrent-all-keys $N "$keys"
check_eq concurrent-distinct-serials $N "$(field serial | grep . | sort -u | wc -l)"

verified=0 asid_ok=0
for i in $(seq $N); do
        [ "$(sed -n 's/^whoami=//p' "$TMP/c/$i.out")" = 0 ] || continue
        "$PY" "$HERE/check_claims.py" --sub "$U1" --uid "$U1_UID" --aud "$MACHINE_ID" \
                --group g-test --scope s:read --tenant acme <"$TMP/c/$i.whoami" >/dev/null &&
                verified=$((verified + 1))
        asid=$(sed -n 's/^sessionid=//p' "$TMP/c/$i.out")
        "$PY" "$HERE/check_claims.py" --asid "$asid" <"$TMP/c/$i.whoami" >/dev/null &&
                asid_ok=$((asid_ok + 1))
done
check_eq concurrent-all-verified $N $verified || show "$TMP/c/1.whoami.err"
sids=$(for i in $(seq $N); do
        "$PY" -c 'import json, sys
c = json.load(open(sys.argv[1]))
print(c.get("claims", c)["sid"])' "$TMP/c/$i.whoami" 2>/dev/null
done | sort -u | wc -l)
check_eq concurrent-distinct-sids $N "$sids"
skip_unless_audit concurrent-asid-matches && check_eq concurrent-asid-matches $N $asid_ok

# hold.py SOCKET N OUT: opens N connections, calls GetInfo on each, writes
# how many answered to OUT (a refused one sees EOF) and keeps them all open
# until killed.
cat >"$TMP/hold.py" <<'EOF'
import json, os, socket, sys, time
path, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    socks.append(s)
time.sleep(0.5)     # every connection accepted or refused before any is used
answered = 0
for s in socks:
    try:
        s.sendall(json.dumps({"method": "org.varlink.service.GetInfo", "parameters": {}}).encode() + b"\0")
        buf = b""
        while not buf.endswith(b"\0"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        answered += buf.endswith(b"\0")
    except OSError:
        pass
with open(out + ".tmp", "w") as f:
    f.write("%d\n" % answered)
os.rename(out + ".tmp", out)
time.sleep(60)
EOF
chmod 0644 "$TMP/hold.py"
mkdir "$TMP/held" && chown "$U1" "$TMP/held"
"$PY" "$TMP/hold.py" "$SOCK" $HOLD "$TMP/held/root" &
hold_pid=$!
CLEANUP_PIDS="$CLEANUP_PIDS $hold_pid"
poll 100 test -s "$TMP/held/root"
check_eq concurrent-root-past-uid-cap $HOLD "$(cat "$TMP/held/root" 2>/dev/null)"
# A login while root holds more connections than the cap still gets claims.
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" $AUDIT_FLAG \
        -- sh "$TMP/inside.sh" "$JWKS" "$ENRICHCTL" "$TMP/held/login" >"$TMP/held/login.out" 2>"$TMP/held/login.err"
held_serial=$(sed -n 's/^serial=//p' "$TMP/held/login.out")
held_whoami=$(sed -n 's/^whoami=//p' "$TMP/held/login.out")
check concurrent-login-past-uid-cap eval '[ -n "$held_serial" ] && [ "$held_whoami" = 0 ]' ||
        show "$TMP/held/login.err"
kill "$hold_pid" 2>/dev/null; wait "$hold_pid" 2>/dev/null
# Any other uid keeps the cap.
# (setpriv itself, not as_user: a function would run in a subshell, and
# the kill below would miss the python it started)
setpriv --reuid="$U1" --regid="$(id -g "$U1")" --init-groups -- "$PY" "$TMP/hold.py" "$SOCK" $HOLD "$TMP/held/user" &
hold_pid=$!
CLEANUP_PIDS="$CLEANUP_PIDS $hold_pid"
poll 100 test -s "$TMP/held/user"
held_user=$(cat "$TMP/held/user" 2>/dev/null)
check concurrent-other-uid-capped eval '[ -n "$held_user" ] && [ "$held_user" -gt 0 ] && [ "$held_user" -le 32 ]'
kill "$hold_pid" 2>/dev/null; wait "$hold_pid" 2>/dev/null

enrich_finish
