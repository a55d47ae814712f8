[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# doctor.sh: `enrichctl doctor` on a private instance: every path points into
# a temporary folder (config, PAM dir, nsswitch.conf, machine-id, state,
# JWKS, socket), so nothing in /etc is read or touched. A healthy setup
# exits 0 with every check "ok"; then each check is broken on its own and
# must turn into a warning (exit 1) or an error (exit 2) that names a fix.
. "$(dirname "$0")/lib.sh"

CHECKS="doctor-healthy-exit-0 doctor-healthy-all-ok doctor-json-parses
doctor-pam-missing-keyinit doctor-pam-keyinit-after doctor-pam-keyinit-without-revoke
doctor-pam-include-good doctor-pam-substack-bad doctor-pam-bracket-control doctor-pam-none
doctor-socket-missing doctor-socket-wrong-peer doctor-nsswitch-without-systemd doctor-nsswitch-fix-names-line doctor-nsswitch-no-groups
doctor-state-dir-mode doctor-state-dir-owner doctor-signing-key-mode doctor-config-invalid doctor-config-missing
doctor-jwks-garbage doctor-jwks-missing doctor-clock-behind doctor-machine-id-empty
doctor-machine-id-missing doctor-fix-text daemon-clean-shutdown"
enrich_require $CHECKS

enrich_setup
# The userdb socket sits where nss-systemd looks, under a name unique to
# this run, so doctor's NSS check finds the group (doctor_nss.sh breaks it).
USERDB_SOCK=/run/systemd/userdb/io.enrich.eu10-$$
CREATED_USERDB_DIR=""
[ -d /run/systemd/userdb ] || CREATED_USERDB_DIR=1
mkdir -p /run/systemd/userdb
eu10_cleanup() {
        enrich_cleanup
        rm -f "$USERDB_SOCK"
        [ -n "$CREATED_USERDB_DIR" ] && rmdir /run/systemd/userdb 2>/dev/null
}
trap eu10_cleanup EXIT
# doctor gets a PAM folder of its own: enrich_setup's has a test service
# without pam_keyinit, which doctor would rightly flag.
PAMD=$TMP/doctor-pam.d
mkdir -p "$PAMD"
cat /etc/machine-id >"$TMP/machine-id"
printf 'passwd: files systemd\ngroup:  files systemd\nshadow: files\n' >"$TMP/nsswitch.conf"
enrich_write_config <<EOF
groups = ( { name = "eu10-jit"; gid = 61977; } );
rules = ( { name = "r"; match = { services = ["sshd"]; }; grant = { scopes = ["s:read"]; }; } );
EOF
sed -i "s|^userdb_socket = .*|userdb_socket = \"$USERDB_SOCK\";|" "$TMP/enrichd.conf"
cat >"$PAMD/sshd" <<EOF
auth     required pam_unix.so
session  optional pam_keyinit.so force revoke
session  required pam_unix.so
session  optional pam_enrich.so socket=$SOCK
EOF
printf 'session optional pam_permit.so\n' >"$PAMD/other"
enrich_start_daemon || { fail doctor-daemon "enrichd did not start"; enrich_finish; }

# doctor [ARGS...]: runs doctor on the private instance (JSON into
# $TMP/out.json, text into $TMP/out.txt); RC is its exit status.
doctor() {
        "$ENRICHCTL" doctor --config "$TMP/enrichd.conf" --pam-dir "$PAMD" --nsswitch "$TMP/nsswitch.conf" \
                --machine-id "$TMP/machine-id" --enrichd "$ENRICHD" --json "$@" >"$TMP/out.json" 2>"$TMP/err.txt"
        RC=$?
        "$ENRICHCTL" doctor --config "$TMP/enrichd.conf" --pam-dir "$PAMD" --nsswitch "$TMP/nsswitch.conf" \
                --machine-id "$TMP/machine-id" --enrichd "$ENRICHD" "$@" >"$TMP/out.txt" 2>&1
}
# level CHECK: the worst level doctor gave CHECK in the last run.
level() {
        "$PY" -c '
import json, sys
rank = {"ok": 0, "warning": 1, "error": 2}
levels = [f["level"] for f in json.load(open(sys.argv[1]))["findings"] if f["check"] == sys.argv[2]]
print(max(levels, key=rank.get) if levels else "none")' "$TMP/out.json" "$1" 2>/dev/null
}
# expect NAME CHECK LEVEL RC [DOCTOR-ARGS...]: runs doctor, wants CHECK at LEVEL and exit RC.
expect() {
        local name=$1 what=$2 want=$3 rc=$4; shift 4
        doctor "$@"
        if [ "$(level "$what")" = "$want" ] && [ "$RC" = "$rc" ]; then
                ok "$name"
        else
                fail "$name" "wanted $what=$want exit $rc, got $what=$(level "$what") exit $RC"
                show "$TMP/out.txt"
        fi
}

doctor
check_eq doctor-healthy-exit-0 0 "$RC" || show "$TMP/out.txt"
all_ok() {
        [ "$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))
print(d["status"], sorted({f["check"] for f in d["findings"] if f["level"] == "ok"}))' "$TMP/out.json")" = \
          "ok ['clock', 'config', 'fleet', 'jwks', 'machine-id', 'nss', 'nsswitch', 'pam', 'signing-key', 'socket', 'state-dir']" ]
}
check doctor-healthy-all-ok all_ok || show "$TMP/out.json"
check doctor-json-parses "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/out.json"

# ---- PAM ----
cp "$PAMD/sshd" "$TMP/sshd.good"
grep -v pam_keyinit "$TMP/sshd.good" >"$PAMD/sshd"
expect doctor-pam-missing-keyinit pam error 2
fix_names_line() { grep -q 'fix: add "session optional pam_keyinit.so force revoke" before the pam_enrich.so line' "$TMP/out.txt" &&
                   grep -q "$PAMD/sshd:3" "$TMP/out.txt"; }
check doctor-fix-text fix_names_line || show "$TMP/out.txt"
{ grep -v pam_keyinit "$TMP/sshd.good"; echo "session optional pam_keyinit.so force revoke"; } >"$PAMD/sshd"
expect doctor-pam-keyinit-after pam error 2
sed 's/force revoke/force/' "$TMP/sshd.good" >"$PAMD/sshd"
expect doctor-pam-keyinit-without-revoke pam warning 1
# Debian style: keyinit in the service, pam_enrich.so in an included part.
printf 'session optional pam_keyinit.so force revoke\n@include eu10-common-session\n' >"$PAMD/sshd"
printf "session required pam_unix.so\nsession optional pam_enrich.so socket=%s\n" "$SOCK" >"$PAMD/eu10-common-session"
expect doctor-pam-include-good pam ok 0
printf 'session required pam_unix.so\nsession substack eu10-common-session\n' >"$PAMD/sshd"
expect doctor-pam-substack-bad pam error 2
printf 'session [success=ok default=ignore] pam_keyinit.so force revoke\n-session optional /lib/security/pam_enrich.so\n' >"$PAMD/sshd"
rm -f "$PAMD/eu10-common-session"
expect doctor-pam-bracket-control pam ok 0
rm -f "$PAMD/sshd"
expect doctor-pam-none pam warning 1
cp "$TMP/sshd.good" "$PAMD/sshd"

# ---- socket ----
expect doctor-socket-missing socket error 2 --socket "$TMP/nothing-here"
mkdir -m 0777 "$TMP/peer"
setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
while True:
    c, _ = s.accept(); time.sleep(0.2); c.close()' "$TMP/peer/sock" &
PEER_PID=$!
CLEANUP_PIDS="$CLEANUP_PIDS $PEER_PID"
for _ in $(seq 50); do [ -S "$TMP/peer/sock" ] && break; sleep 0.1; done
expect doctor-socket-wrong-peer socket error 2 --socket "$TMP/peer/sock"
kill "$PEER_PID" 2>/dev/null

# ---- nsswitch ----
cp "$TMP/nsswitch.conf" "$TMP/nsswitch.good"
printf 'passwd: files\ngroup:  files\n' >"$TMP/nsswitch.conf"
expect doctor-nsswitch-without-systemd nsswitch warning 1
check doctor-nsswitch-fix-names-line grep -qF "fix: add systemd to the group line of $TMP/nsswitch.conf (line 2)" "$TMP/out.txt" ||
        show "$TMP/out.txt"
sed -i '/^groups/d' "$TMP/enrichd.conf"
expect doctor-nsswitch-no-groups nsswitch ok 0
cp "$TMP/nsswitch.good" "$TMP/nsswitch.conf"

# ---- state dir and signing key ----
chmod 0755 "$TMP/state"
expect doctor-state-dir-mode state-dir error 2
chmod 0700 "$TMP/state"
chown nobody "$TMP/state"
expect doctor-state-dir-owner state-dir error 2
chown root "$TMP/state"
chmod 0644 "$TMP/state/signing-key.pem"
expect doctor-signing-key-mode signing-key error 2
chmod 0600 "$TMP/state/signing-key.pem"

# ---- config ----
cp "$TMP/enrichd.conf" "$TMP/enrichd.good"
echo 'no_such_setting = 1;' >>"$TMP/enrichd.conf"
expect doctor-config-invalid config error 2
rm -f "$TMP/enrichd.conf"
expect doctor-config-missing config error 2
cp "$TMP/enrichd.good" "$TMP/enrichd.conf"

# ---- JWKS and clock ----
cp -p "$JWKS" "$TMP/jwks.good"
echo '{"keys": 42' >"$JWKS"
expect doctor-jwks-garbage jwks error 2
rm -f "$JWKS"
expect doctor-jwks-missing jwks error 2
cp "$TMP/jwks.good" "$JWKS"
touch -d '+2 hours' "$JWKS"
expect doctor-clock-behind clock error 2
cp -p "$TMP/jwks.good" "$JWKS"

# ---- machine-id ----
: >"$TMP/machine-id"
expect doctor-machine-id-empty machine-id error 2
rm -f "$TMP/machine-id"
expect doctor-machine-id-missing machine-id error 2

enrich_finish
