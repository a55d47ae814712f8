[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# keyring.sh: one real login through pam_enrich.so and the real enrichd, and
# everything docs/contract.md promises about its claims key: where it lives, who owns
# it, its permissions and timeout, that its payload verifies with libenrich
# and with PyJWT, who can read or change it, that a second login and another
# user do not share it, and that close_session revokes it.
. "$(dirname "$0")/lib.sh"

CHECKS="key-exists-after-open serial-file-matches key-type-and-description key-owner-uid-0
key-group-daemon-gid key-permissions key-timeout-is-exp-minus-now key-in-session-keyring
key-not-in-user-keyrings session-keyring-is-not-user-session payload-is-compact-jws
whoami-verifies-claims whoami-asid-is-audit-session daemon-knows-key-serial
daemon-session-records-login check-scope-granted check-scope-missing check-outside-session pyjwt-verifies-claims pyjwt-rejects-tampered-payload
pyjwt-rejects-placeholder user-can-read-key
user-cannot-update-key user-cannot-setperm-key user-cannot-change-timeout other-uid-cannot-read-key
second-login-own-keyring second-login-own-key first-key-intact-after-second-login
close-session-revokes-key login-key-not-in-inherited-keyring refresh-skips-foreign-key daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
if ! enrich_start_daemon; then
        fail "daemon-starts" "enrichd did not start"
        exit 1
fi

# What the session's own user sees and may do, recorded into files in $1.
# The attempts to change the key come last, so a wrongly successful one
# cannot spoil the other observations.
cat >"$TMP/inside.sh" <<'EOF'
out=$1 jwks=$2 ctl=$3
cd "$out" || exit 1
serial=$(keyctl search @s user enrich:claims 2>search.err)
echo "$serial" >serial
keyctl id @s >id_s 2>&1
keyctl id @us >id_us 2>&1
keyctl rlist @s >rlist_s 2>&1
keyctl rlist @us >rlist_us 2>&1
keyctl rlist @u >rlist_u 2>&1
if [ -n "$serial" ]; then
        keyctl rdescribe "$serial" >rdescribe 2>&1
        grep "^$(printf %08x "$serial") " /proc/keys >proc_keys
        date +%s >proc_keys_time
        keyctl pipe "$serial" >token 2>pipe.err
fi
cat /proc/self/sessionid >sessionid
ENRICH_JWKS=$jwks "$ctl" --jwks "$jwks" whoami --json >whoami.json 2>whoami.err; echo $? >whoami.rc
ENRICH_JWKS=$jwks "$ctl" --jwks "$jwks" check --scope s:read >check_read.out 2>&1; echo $? >check_read.rc
ENRICH_JWKS=$jwks "$ctl" --jwks "$jwks" check --scope nope >check_nope.out 2>&1; echo $? >check_nope.rc
: >ready
i=0
while [ ! -e done ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
keyctl pipe "$serial" >token_after 2>&1
keyctl update "$serial" tampered >update.out 2>&1; echo $? >update.rc
keyctl setperm "$serial" 0x3f3f3f3f >setperm.out 2>&1; echo $? >setperm.rc
keyctl timeout "$serial" 5 >timeout.out 2>&1; echo $? >timeout.rc
exit 0
EOF

OUT=$TMP/s1
mkdir "$OUT" && chown "$U1" "$OUT"
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" --tty pts/99 \
        --rhost 192.0.2.7 --ruser remote-bob $AUDIT_FLAG --serial-file "$TMP/s1.serial" \
        -- sh "$TMP/inside.sh" "$OUT" "$JWKS" "$ENRICHCTL" >"$TMP/s1.out" 2>"$TMP/s1.err" &
S1_PID=$!
CLEANUP_PIDS="$CLEANUP_PIDS $S1_PID"
for i in $(seq 100); do
        [ -e "$OUT/ready" ] && break
        kill -0 "$S1_PID" 2>/dev/null || break
        sleep 0.1
done
SERIAL=$(cat "$OUT/serial" 2>/dev/null)
if [ -z "$SERIAL" ]; then
        echo "# no claims key in the first session; pam_session said:"
        show "$TMP/s1.err"; show "$OUT/search.err"; show "$TMP/enrichd.log"
fi

# While the first login is alive, with its key in place:
# - the same user outside any session has no claims;
as_user "$U1" env ENRICH_JWKS="$JWKS" "$ENRICHCTL" --jwks "$JWKS" check --scope s:read \
        >"$TMP/outside.out" 2>&1
OUTSIDE_RC=$?
# - the daemon knows the session and its key's serial (AttachKey);
"$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.ListSessions '{}' >"$TMP/sessions.json" 2>&1
# - the second user, in a session of its own, is given the serial and
#   tries to read it;
# - a second login of the first user gets its own keyring and key.
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U2" \
        -- keyctl print "${SERIAL:-0}" >"$TMP/u2.out" 2>"$TMP/u2.err"
U2_RC=$?
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" $AUDIT_FLAG \
        -- sh -c 'echo "serial=$(keyctl search @s user enrich:claims)"; echo "ring=$(keyctl id @s)"' \
        >"$TMP/s2.out" 2>"$TMP/s2.err"
S2_RC=$?
: >"$OUT/done"
wait "$S1_PID"
S1_RC=$?

# --- the key as the session's user sees it
check_eq key-exists-after-open "yes" "$([ -n "$SERIAL" ] && echo yes || echo no)"
serial_file_ok() { [ -n "$SERIAL" ] && [ "$SERIAL" = "$(cat "$TMP/s1.serial" 2>/dev/null)" ]; }
check serial-file-matches serial_file_ok
IFS=';' read -r K_TYPE K_UID K_GID K_PERM K_DESC 2>/dev/null <"$OUT/rdescribe"
check_eq key-type-and-description "user enrich:claims" "$K_TYPE $K_DESC"
check_eq key-owner-uid-0 0 "$K_UID"
DAEMON_GID=$(awk '/^Gid:/ { print $3 }' "/proc/$DAEMON_PID/status")
check_eq key-group-daemon-gid "$DAEMON_GID" "$K_GID"
check_eq key-permissions 0b3f2f00 "$K_PERM"

# /proc/keys shows the remaining lifetime, rounded down to s/m/h/d/w.
proc_keys_timeout_ok() {
        [ -s "$OUT/proc_keys" ] && [ -s "$OUT/token" ] || return 1
        "$PY" - "$OUT/proc_keys" "$OUT/proc_keys_time" "$OUT/token" <<'EOF'
import base64, json, sys
line = open(sys.argv[1]).read().split()
now = int(open(sys.argv[2]).read())
payload = open(sys.argv[3]).read().strip().split(".")[1]
exp = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
def fmt(t):
    for unit, div, lim in (("s", 1, 60), ("m", 60, 3600), ("h", 3600, 86400), ("d", 86400, 604800)):
        if t < lim:
            return "%d%s" % (t // div, unit)
    return "%dw" % (t // 604800)
allowed = {fmt(exp - now + d) for d in (-3, -2, -1, 0, 1)}
if line[3] not in allowed:
    print("# /proc/keys expiry %s, expected one of %s (exp - now = %d)" % (line[3], sorted(allowed), exp - now))
    sys.exit(1)
EOF
}
check key-timeout-is-exp-minus-now proc_keys_timeout_ok

in_list() { tr ' ' '\n' <"$2" | grep -qx -- "$1"; }
check key-in-session-keyring in_list "$SERIAL" "$OUT/rlist_s"
not_in_user_keyrings() {
        ! in_list "$SERIAL" "$OUT/rlist_us" && ! in_list "$SERIAL" "$OUT/rlist_u"
}
check key-not-in-user-keyrings not_in_user_keyrings
# The key sits directly in the keyring the session's processes inherit as
# @s, and that keyring is not the user's shared user-session keyring.
own_session_ring() {
        in_list "$SERIAL" "$OUT/rlist_s" && [ -s "$OUT/id_s" ] && ! cmp -s "$OUT/id_s" "$OUT/id_us"
}
check session-keyring-is-not-user-session own_session_ring

jws_shape() { [ -f "$OUT/token" ] && grep -Eqx '[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+' "$OUT/token"; }
check payload-is-compact-jws jws_shape

# --- verification with libenrich (enrichctl) and with PyJWT
EXPECT=(--sub "$U1" --uid "$U1_UID" --aud "$MACHINE_ID" --group g-test --scope s:read
        --scope s:write --tenant acme --svc enrich-test --tty pts/99 --rhost 192.0.2.7)
whoami_ok() {
        [ "$(cat "$OUT/whoami.rc")" = 0 ] || { show "$OUT/whoami.err"; return 1; }
        [ -s "$OUT/whoami.json" ] || return 1
        "$PY" "$HERE/check_claims.py" "${EXPECT[@]}" <"$OUT/whoami.json" | sed 's/^/# /'
        return "${PIPESTATUS[0]}"
}
check whoami-verifies-claims whoami_ok
SESSIONID=$(cat "$OUT/sessionid")
asid_ok() {
        [ -n "$SESSIONID" ] && [ "$SESSIONID" != 4294967295 ] && [ -s "$OUT/whoami.json" ] &&
                "$PY" "$HERE/check_claims.py" --asid "$SESSIONID" <"$OUT/whoami.json" | sed 's/^/# /'
        return "${PIPESTATUS[0]}"
}
skip_unless_audit whoami-asid-is-audit-session && check whoami-asid-is-audit-session asid_ok
daemon_knows_serial() {
        [ -n "$SERIAL" ] && [ -s "$OUT/whoami.json" ] && "$PY" - "$TMP/sessions.json" "$OUT/whoami.json" "$SERIAL" <<'EOF'
import json, sys
sessions = json.load(open(sys.argv[1]))["parameters"]["sessions"]
sid = json.load(open(sys.argv[2]))["sid"]
mine = [s for s in sessions if s.get("sid") == sid]
if not mine or mine[0].get("keySerial") != int(sys.argv[3]):
    print("# session %s in ListSessions: %r" % (sid, mine))
    sys.exit(1)
EOF
}
check daemon-knows-key-serial daemon_knows_serial
# ... and what the module told it about the login (PAM items included).
daemon_session_ok() {
        [ -s "$OUT/whoami.json" ] && "$PY" - "$TMP/sessions.json" "$OUT/whoami.json" "$U1" "$U1_UID" <<'EOF'
import json, sys
sessions = json.load(open(sys.argv[1]))["parameters"]["sessions"]
sid = json.load(open(sys.argv[2]))["sid"]
mine = [s for s in sessions if s.get("sid") == sid]
want = {"user": sys.argv[3], "uid": int(sys.argv[4]), "service": "enrich-test",
        "tty": "pts/99", "rhost": "192.0.2.7", "ruser": "remote-bob"}
got = {k: mine[0].get(k) for k in want} if mine else None
if got != want:
    print("# session %s in ListSessions: %r, expected %r" % (sid, got, want))
    sys.exit(1)
EOF
}
check daemon-session-records-login daemon_session_ok
check_eq check-scope-granted 0 "$(cat "$OUT/check_read.rc")"
# Meaningful only where claims were found: then "nope" must be refused.
scope_missing() { [ "$(cat "$OUT/check_read.rc")" = 0 ] && [ "$(cat "$OUT/check_nope.rc")" = 1 ]; }
check check-scope-missing scope_missing || show "$OUT/check_nope.out"
check_eq check-outside-session 1 "$OUTSIDE_RC" || show "$TMP/outside.out"

pyjwt_ok() {
        [ -s "$OUT/token" ] || return 1
        "$PY" "$HERE/pyjwt_verify.py" "$JWKS" "$OUT/token" >"$TMP/pyjwt.json" || {
                show "$TMP/pyjwt.json"; return 1; }
        "$PY" "$HERE/check_claims.py" "${EXPECT[@]}" ${AUDIT_FLAG:+--asid "$SESSIONID"} <"$TMP/pyjwt.json" |
                sed 's/^/# /'
        return "${PIPESTATUS[0]}"
}
check pyjwt-verifies-claims pyjwt_ok
tampered_rejected() {
        # Only meaningful if the untouched token verifies.
        [ -s "$OUT/token" ] || return 1
        "$PY" "$HERE/pyjwt_verify.py" "$JWKS" "$OUT/token" >/dev/null || return 1
        ! "$PY" "$HERE/pyjwt_verify.py" "$JWKS" "$OUT/token" --tamper >"$TMP/tamper.out" &&
                grep -q InvalidSignatureError "$TMP/tamper.out"
}
check pyjwt-rejects-tampered-payload tampered_rejected
# The payload of a key the daemon has not written yet (keyring.h,
# ENRICH_KEY_PLACEHOLDER) is no token to PyJWT either.
placeholder_rejected() {
        [ -s "$OUT/token" ] && "$PY" "$HERE/pyjwt_verify.py" "$JWKS" "$OUT/token" >/dev/null || return 1
        printf 'enrich:pending' >"$TMP/placeholder"
        ! "$PY" "$HERE/pyjwt_verify.py" "$JWKS" "$TMP/placeholder" >"$TMP/placeholder.out" 2>&1
}
check pyjwt-rejects-placeholder placeholder_rejected || show "$TMP/placeholder.out"

# --- who may do what with the key
user_read_ok() { [ -s "$OUT/token" ] && [ ! -s "$OUT/pipe.err" ]; }
check user-can-read-key user_read_ok
# Refused by the kernel for lack of permission (EACCES), not for any other
# reason such as a missing key.
denied() { [ -n "$SERIAL" ] && [ "$(cat "$OUT/$1.rc")" != 0 ] && grep -q 'Permission denied' "$OUT/$1.out"; }
check user-cannot-update-key denied update || show "$OUT/update.out"
check user-cannot-setperm-key denied setperm || show "$OUT/setperm.out"
check user-cannot-change-timeout denied timeout || show "$OUT/timeout.out"
other_uid_refused() {
        # 1 is keyctl's own failure: the session opened and the command ran.
        [ -n "$SERIAL" ] && [ "$U2_RC" = 1 ] && ! grep -qF "$(cat "$OUT/token")" "$TMP/u2.out"
}
check other-uid-cannot-read-key other_uid_refused
[ "$U2_RC" = 1 ] || { echo "# second user's session exited $U2_RC"; show "$TMP/u2.err"; }

# --- a second login of the same user: own keyring, own key, first untouched
S2_SERIAL=$(sed -n 's/^serial=//p' "$TMP/s2.out")
S2_RING=$(sed -n 's/^ring=//p' "$TMP/s2.out")
[ "$S2_RC" = 0 ] || { echo "# second login exited $S2_RC"; show "$TMP/s2.err"; }
second_ring_differs() { [ -n "$S2_SERIAL" ] && [ -n "$SERIAL" ] && [ -n "$S2_RING" ] && [ "$S2_RING" != "$(cat "$OUT/id_s")" ]; }
check second-login-own-keyring second_ring_differs
second_key_differs() { [ -n "$S2_SERIAL" ] && [ -n "$SERIAL" ] && [ "$S2_SERIAL" != "$SERIAL" ]; }
check second-login-own-key second_key_differs
first_intact() { [ -s "$OUT/token" ] && cmp -s "$OUT/token" "$OUT/token_after"; }
check first-key-intact-after-second-login first_intact

# --- close_session
[ "$S1_RC" = 0 ] || { echo "# first login exited $S1_RC"; show "$TMP/s1.err"; }
key_gone() { [ -n "$SERIAL" ] && ! keyctl describe "$SERIAL" >/dev/null 2>&1; }
check close-session-revokes-key key_gone

# A PAM application that already runs in a session keyring of its own, as
# every systemd service does (KeyringMode=private, e.g. sshd), must not put
# the login's key there: every process sharing that keyring (sshd's
# unprivileged children, later logins) would possess it, and docs/contract.md says
# only the session's processes can read it. The login runs under a private
# keyring P; while it is open, root lists P.
keyctl session - sh -c 'P=$(keyctl id @s)
        exec "$0" --confdir "$1" --service enrich-test --user "$2" --as-root --serial-file "$3" \
                -- keyctl rlist "$P"' "$PAM_SESSION" "$PAMDIR" "$U1" "$TMP/inherited.serial" \
        >"$TMP/inherited.out" 2>"$TMP/inherited.err"
not_in_inherited() {
        local serial
        serial=$(cat "$TMP/inherited.serial" 2>/dev/null)
        [ -n "$serial" ] && ! in_list "$serial" "$TMP/inherited.out" ||
                { echo "# key ${serial:-none}; the inherited keyring holds: $(cat "$TMP/inherited.out")"; return 1; }
}
check login-key-not-in-inherited-keyring not_in_inherited || show "$TMP/inherited.err"

# The daemon keeps each login's key serial and writes refreshed tokens into
# it; once that key is gone the kernel may give the serial to a key a user
# made and let others write. Root's AttachKey stands in for that reuse: the
# user's live session is pointed at the user's own such key, then a grant
# refreshes the session. The token must not land there.
session_open reuse "$U1"
UK=$(as_user "$U1" sh -c 'k=$(keyctl add user enrich:claims planted @u) && keyctl setperm "$k" 0x3f3f3f3f && echo "$k"')
REUSE_SID=$("$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.ListSessions "{\"user\":\"$U1\"}" |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["parameters"]["sessions"][0]["sid"])')
"$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.AttachKey "{\"sid\":\"$REUSE_SID\",\"keySerial\":${UK:-0}}" >/dev/null
ctl grant "$U1" --scope s:reuse --ttl 10m --reason "serial reuse" >"$TMP/reuse.out" 2>&1
foreign_key_untouched() {
        [ -n "$UK" ] && [ "$(as_user "$U1" keyctl print "$UK" 2>&1)" = planted ]
}
sleep 0.5
check refresh-skips-foreign-key foreign_key_untouched ||
        { echo "# key $UK holds: $(as_user "$U1" keyctl print "$UK" 2>&1 | cut -c1-40)"; show "$TMP/reuse.out"; }
session_close reuse
# The planted key lives in the user's keyring, which outlives the account.
as_user "$U1" keyctl revoke "$UK" >/dev/null 2>&1

enrich_finish
