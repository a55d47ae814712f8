[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# userdb_slow.sh: a slow directory delays the userdb groups, never root's
# calls. A second userdb service stands in for the directory (as LDAP or
# SSSD would be, through nss-systemd) and a rule gives a served group from
# a group only it knows. Once every answer of the directory takes 0.2 s and
# the account files change (a user is added: every cached lookup is stale),
# root's Status calls and a real PAM login are not held up by the userdb
# rebuild (which used to look up every local user, one after the other,
# after each call), and the member keeps its group meanwhile.
. "$(dirname "$0")/lib.sh"

CHECKS="slow-member-before slow-status-fast slow-login-claims slow-member-kept slow-member-after
daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup

USERDB_DIR=/run/systemd/userdb
SERVICE=io.enrich.sl-$$
USERDB_SOCK=$USERDB_DIR/$SERVICE
DIR_SOCK=$USERDB_DIR/io.enrich.sl-dir-$$
CREATED_USERDB_DIR=""
[ -d "$USERDB_DIR" ] || CREATED_USERDB_DIR=1
sl_cleanup() {
        enrich_cleanup
        rm -f "$USERDB_SOCK" "$DIR_SOCK"
        [ -n "$CREATED_USERDB_DIR" ] && rmdir "$USERDB_DIR" 2>/dev/null
}
trap sl_cleanup EXIT

free_gid() {
        local g
        for g in $(seq "$1" 61999); do
                getent -s files group "$g" >/dev/null || { echo "$g"; return; }
        done
}
GID_SERVED=$(free_gid 61700)
GID_DIR=$(free_gid $((GID_SERVED + 1)))
cat >>"$TMP/enrichd.conf" <<CONF
groups = ( { name = "sl-served-$$"; gid = $GID_SERVED; } );
rules = (
  { name = "integration-test"; match = { services = ["enrich-test"]; };
    grant = { groups = ["g-test"]; scopes = ["s:read"]; }; },
  { name = "directory"; match = { users = ["$U1"]; unix_groups = ["sl-dir-$$"]; };
    grant = { groups = ["sl-served-$$"]; }; }
);
CONF
# libconfig takes a setting once: drop the rules lib.sh wrote.
"$PY" - "$TMP/enrichd.conf" <<'PYEOF'
import sys
path = sys.argv[1]
text = open(path).read()
first = text.index("rules = (")
end = text.index(");\n", first) + 3
open(path, "w").write(text[:first] + text[end:])
PYEOF
sed -i "s|^userdb_socket = .*|userdb_socket = \"$USERDB_SOCK\";|" "$TMP/enrichd.conf"
mkdir -p "$USERDB_DIR"
echo 0 >"$TMP/delay"
USERDB_SERVICE_DELAY_FILE=$TMP/delay "$PY" "$HERE/userdb_service.py" "$DIR_SOCK" "sl-dir-$$" "$GID_DIR" "$U1" \
        2>"$TMP/dir-service.err" &
CLEANUP_PIDS="$CLEANUP_PIDS $!"
poll 30 test -S "$DIR_SOCK" || { echo "# the directory stand-in did not start"; show "$TMP/dir-service.err"; }
if ! enrich_start_daemon || ! poll 30 test -S "$USERDB_SOCK"; then
        fail daemon-starts "enrichd did not start"
        show "$TMP/enrichd.log"
        exit 1
fi

is_member() {
        "$PY" "$HERE/varlink_call.py" "$USERDB_SOCK" io.systemd.UserDatabase.GetMemberships \
                '{"userName": "'"$U1"'", "groupName": "sl-served-'$$'", "service": "'"$SERVICE"'"}' |
                grep -q '"groupName": "sl-served-'$$'"'
}
check slow-member-before poll 50 is_member

# The directory slows down; a new account makes every cached lookup stale.
echo 0.2 >"$TMP/delay"
enrich_add_user "enrich-sl3-$$" || fail setup-users "useradd failed"
# Root's Status, 8 times, each timed (5 s at most).
"$PY" - "$SOCK" >"$TMP/status.json" <<'PYEOF'
import json, socket, sys, time
worst, failed = 0.0, 0
for i in range(8):
    start = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    buf = b""
    try:
        s.connect(sys.argv[1])
        s.sendall(b'{"method":"io.enrich.Status","parameters":{}}\0')
        while b"\0" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass
    s.close()
    if b"\0" not in buf:
        failed += 1
    worst = max(worst, time.monotonic() - start)
    time.sleep(0.15)
print(json.dumps({"failed": failed, "maxMs": round(worst * 1000, 1)}))
PYEOF
echo "# root Status with a slow directory: $(cat "$TMP/status.json")"
check_eq slow-status-fast True "$("$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["failed"] == 0 and r["maxMs"] < 1000)' "$TMP/status.json" 2>/dev/null)"
# A real login (its own group lookup meets the slow directory too, 0.4 s).
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U2" \
        -- sh -c 'keyctl search @s user enrich:claims >/dev/null' >"$TMP/login.out" 2>"$TMP/login.err"
rc=$?
echo "# login: exit $rc, pam_open_session $(pam_ms "$TMP/login.err") ms"
check_eq slow-login-claims 0 "$rc" || show "$TMP/login.err"
check slow-member-kept is_member
echo 0 >"$TMP/delay"
check slow-member-after poll 50 is_member
enrich_finish
