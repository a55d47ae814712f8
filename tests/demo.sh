#!/bin/sh
# tests/demo.sh: `make demo`, run as root after the build. Starts a private
# enrichd from a temporary folder, opens a real PAM session through
# pam_enrich.so for a throw-away user, shows the signed claims that land in
# the session keyring and how a process of the session reads and verifies
# them; then, while that session stays open, root grants the user a
# just-in-time scope and revokes it again, and the session sees its key (same
# serial) gain and lose it. Finally closing the session revokes the key.
# Leaves nothing behind; exits non-zero if any step failed.

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
B=${ENRICH_BUILD:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
PYTHON=/usr/bin/python3        # Debian's, which has python3-jwt
DEMO_USER=enrich-demo
SERVICE=enrich-demo

failed=0
tmp=
daemon_pid=
created_user=
session_pid=

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*"; failed=1; }
# Prints a command as a shell would show it, then runs it.
show() { printf '$ %s\n' "$*"; "$@"; }

# shellcheck disable=SC2317 # run from the EXIT trap
cleanup() {
        step "Cleaning up"
        if [ -n "$session_pid" ] && kill -0 "$session_pid" 2>/dev/null; then
                kill -TERM "$session_pid"
                wait "$session_pid" 2>/dev/null
                echo "stopped the demo session (pid $session_pid)"
        fi
        if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
                kill -TERM "$daemon_pid"
                i=0
                while kill -0 "$daemon_pid" 2>/dev/null && [ "$i" -lt 50 ]; do
                        sleep 0.1
                        i=$((i + 1))
                done
                if kill -0 "$daemon_pid" 2>/dev/null; then
                        fail "enrichd did not stop on SIGTERM within 5 s; killing it"
                        kill -KILL "$daemon_pid" 2>/dev/null
                fi
                wait "$daemon_pid" 2>/dev/null
                echo "stopped enrichd (pid $daemon_pid)"
        fi
        if [ -n "$created_user" ]; then
                userdel "$DEMO_USER" && echo "removed user $DEMO_USER"
        fi
        if [ -n "$tmp" ]; then
                rm -rf "$tmp" && echo "removed $tmp"
        fi
        if [ "$failed" -ne 0 ]; then
                echo "demo FAILED"
                exit 1
        fi
}
trap cleanup EXIT
trap 'fail "interrupted"; exit 1' INT TERM

step "Checking the build and the environment"
if [ "$(id -u)" -ne 0 ]; then
        echo "make demo must run as root: it creates a user and opens a real PAM session"
        failed=1
        exit 1
fi
for f in enrichd enrichctl pam_enrich.so tests/pam_session; do
        if [ ! -f "$B/$f" ]; then
                fail "$B/$f is missing; run make first"
                exit 1
        fi
done
for tool in keyctl useradd userdel; do
        command -v "$tool" >/dev/null || { fail "$tool is not installed"; exit 1; }
done
echo "using $B"

step "Creating a temporary folder for a private enrich instance"
tmp=$(mktemp -d /tmp/enrich-demo.XXXXXX) || { fail "mktemp"; exit 1; }
# The demo user must reach jwks.json and the in-session script in here; the
# state folder (database, signing key) stays root's alone.
chmod 0755 "$tmp"
if ! mkdir -m 0700 "$tmp/state" || ! mkdir "$tmp/pam.d"; then
        fail "mkdir"
        exit 1
fi
echo "$tmp"

step "Writing $tmp/enrichd.conf"
cat >"$tmp/enrichd.conf" <<EOF
# A private instance: every path inside the temporary folder.
socket = "$tmp/io.enrich";
userdb_socket = "$tmp/io.enrich.Groups";
jwks = "$tmp/jwks.json";
state_dir = "$tmp/state";
issuer = "enrichd@demo";
claims_ttl = 300;
max_ttl = 3600;

# The time-bound group the grant below gives (a grant to a group enrichd
# does not know is refused).
groups = (
  { name = "jit-deploy"; gid = 61001; }
);

rules = (
  { name = "demo-login";
    match = { users = ["$DEMO_USER"]; services = ["$SERVICE"]; };
    grant = { groups = ["demo-deployers"]; scopes = ["deploy:staging", "logs:read"];
              tenant = "demo-tenant"; ttl = 600; };
  }
);
EOF
cat "$tmp/enrichd.conf"

step "Writing the PAM service $tmp/pam.d/$SERVICE"
cat >"$tmp/pam.d/$SERVICE" <<EOF
auth     required pam_permit.so
account  required pam_permit.so
session  required $B/pam_enrich.so socket=$tmp/io.enrich debug
EOF
cat "$tmp/pam.d/$SERVICE"

step "Creating the demo user $DEMO_USER"
if id "$DEMO_USER" >/dev/null 2>&1; then
        echo "$DEMO_USER exists already; using it and leaving it in place"
else
        show useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin --comment "enrich demo" "$DEMO_USER" ||
                { fail "useradd"; exit 1; }
        created_user=1
fi
show id "$DEMO_USER"

step "Starting enrichd in the foreground of a background job"
printf '$ %s\n' "$B/enrichd --config $tmp/enrichd.conf --foreground &"
"$B/enrichd" --config "$tmp/enrichd.conf" --foreground >"$tmp/enrichd.log" 2>&1 &
daemon_pid=$!
i=0
while [ ! -S "$tmp/io.enrich" ] && [ "$i" -lt 100 ] && kill -0 "$daemon_pid" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
done
if [ ! -S "$tmp/io.enrich" ]; then
        if kill -0 "$daemon_pid" 2>/dev/null; then
                fail "enrichd did not create its socket within 10 s; its output:"
        else
                wait "$daemon_pid"
                fail "enrichd exited with status $? before creating its socket; its output:"
                daemon_pid=
        fi
        cat "$tmp/enrichd.log"
        exit 1
fi
echo "enrichd (pid $daemon_pid) listens on $tmp/io.enrich"
show ls -l "$tmp/io.enrich" "$tmp/jwks.json"

step "Asking the daemon for its status"
show "$B/enrichctl" --socket "$tmp/io.enrich" status || fail "enrichctl status"

step "Preparing what runs inside the session"
# Run as the demo user, inside the session: what any process of the login
# can see and verify. Its exit status is the demo's verdict on the claims.
cat >"$tmp/in-session.sh" <<'EOF'
#!/bin/sh
enrichctl=$1 jwks=$2 python=$3
status=0
run() { printf '$ %s\n' "$*"; "$@" || { echo "FAILED: $*"; status=1; }; }
run id
run "$enrichctl" --jwks "$jwks" whoami
run "$enrichctl" --jwks "$jwks" check --scope deploy:staging
printf '$ %s\n' "$enrichctl --jwks $jwks check --scope deploy:prod   (not granted: exit 1 expected)"
"$enrichctl" --jwks "$jwks" check --scope deploy:prod
rc=$?
echo "exit status $rc"
[ "$rc" -eq 1 ] || { echo "FAILED: expected exit status 1"; status=1; }
run keyctl show @s
run keyctl describe %user:enrich:claims
run keyctl print %user:enrich:claims
echo '$ keyctl pipe %user:enrich:claims | python3 -c ...   (any JWT library: PyJWT here)'
keyctl pipe %user:enrich:claims | ENRICH_JWKS=$jwks "$python" -c '
import json, os, sys, jwt
token = sys.stdin.read()
jwks = jwt.PyJWKSet.from_json(open(os.environ["ENRICH_JWKS"]).read())
key = jwks[jwt.get_unverified_header(token)["kid"]]
claims = jwt.decode(token, key.key, algorithms=["EdDSA"],
                    audience=open("/etc/machine-id").read().strip())
assert claims["uid"] == os.getuid(), "claims belong to another user"
print(json.dumps(claims, indent=2))
' || { echo "FAILED: PyJWT verification"; status=1; }

# The session stays open while root grants and revokes (see the demo's next
# steps); files in $sig say when each side is done. Each wait is bounded.
sig=$4
serial=$(keyctl search @s user enrich:claims)
wait_for() {
        i=0
        while [ ! -e "$sig/$1" ] && [ "$i" -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
        [ -e "$sig/$1" ] || { echo "FAILED: gave up waiting for $1"; status=1; return 1; }
}
: >"$sig/checked"
if wait_for granted; then
        echo
        echo "--- inside the same session, after the grant:"
        run "$enrichctl" --jwks "$jwks" whoami
        run "$enrichctl" --jwks "$jwks" check --scope deploy:prod --group jit-deploy
        now=$(keyctl search @s user enrich:claims)
        echo "claims key serial: before $serial, now $now"
        [ "$now" = "$serial" ] || { echo "FAILED: the key was replaced, not updated in place"; status=1; }
fi
: >"$sig/seen-grant"
if wait_for revoked; then
        echo
        echo "--- inside the same session, right after the revocation:"
        # The daemon re-issues the key before `enrichctl revoke` returns;
        # allow one second, as promised, and say how long it took.
        i=0
        while "$enrichctl" --jwks "$jwks" check --scope deploy:prod 2>/dev/null && [ "$i" -lt 10 ]; do
                sleep 0.1
                i=$((i + 1))
        done
        printf '$ %s
' "$enrichctl --jwks $jwks check --scope deploy:prod   (revoked: exit 1 expected)"
        "$enrichctl" --jwks "$jwks" check --scope deploy:prod
        rc=$?
        if [ "$i" -eq 0 ]; then
                echo "exit status $rc, already at the first check after the revocation"
        else
                echo "exit status $rc, $((i * 100)) ms after the revocation"
        fi
        [ "$rc" -eq 1 ] || { echo "FAILED: deploy:prod still held after the revocation"; status=1; }
        run "$enrichctl" --jwks "$jwks" whoami
        now=$(keyctl search @s user enrich:claims)
        echo "claims key serial: before $serial, now $now"
        [ "$now" = "$serial" ] || { echo "FAILED: the key was replaced, not updated in place"; status=1; }
fi
exit $status
EOF
chmod 0755 "$tmp/in-session.sh"
echo "$tmp/in-session.sh: whoami, check, keyctl show/describe/print, PyJWT; then it waits"
echo "for root to grant and revoke, and looks at its claims again each time"

# A fresh audit session gives the login its own session id ("asid"), which
# the claims are bound to; containers often do not allow one.
audit=
if sh -c "echo $(id -u "$DEMO_USER") >/proc/self/loginuid" 2>/dev/null; then
        audit=--new-audit-session
else
        echo "(cannot start an audit session here: the claims carry no asid)"
fi

step "Opening a real PAM session for $DEMO_USER (service $SERVICE) and running the script in it"
sig=$tmp/signals
mkdir "$sig" && chown "$DEMO_USER" "$sig" || { fail "mkdir $sig"; exit 1; }
printf '$ %s\n' "pam_session --confdir $tmp/pam.d --service $SERVICE --user $DEMO_USER $audit --serial-file $tmp/serial -- $tmp/in-session.sh ... &"
# shellcheck disable=SC2086 # $audit is one option or nothing
timeout 120 "$B/tests/pam_session" --confdir "$tmp/pam.d" --service "$SERVICE" \
        --user "$DEMO_USER" $audit --serial-file "$tmp/serial" \
        -- "$tmp/in-session.sh" "$B/enrichctl" "$tmp/jwks.json" "$PYTHON" "$sig" &
session_pid=$!

# wait_signal FILE: waits (at most 60 s) for the session to create FILE.
wait_signal() {
        i=0
        while [ ! -e "$sig/$1" ] && kill -0 "$session_pid" 2>/dev/null && [ "$i" -lt 600 ]; do
                sleep 0.1
                i=$((i + 1))
        done
        [ -e "$sig/$1" ] || { fail "the session did not get to '$1'"; return 1; }
}

grant_id=
if wait_signal checked; then
        step "As root, while the session stays open: a just-in-time grant for $DEMO_USER"
        printf '$ %s\n' "enrichctl grant $DEMO_USER --group jit-deploy --scope deploy:prod --ttl 10m --reason \"INC-1234 demo\""
        grant_id=$("$B/enrichctl" --socket "$tmp/io.enrich" grant "$DEMO_USER" --group jit-deploy \
                --scope deploy:prod --ttl 10m --reason "INC-1234 demo") || fail "enrichctl grant"
        echo "$grant_id"
        show "$B/enrichctl" --socket "$tmp/io.enrich" grants || fail "enrichctl grants"
        : >"$sig/granted"
fi
if [ -n "$grant_id" ] && wait_signal seen-grant; then
        step "As root: revoke the grant; the open session's key loses it at once"
        show "$B/enrichctl" --socket "$tmp/io.enrich" revoke "$grant_id" || fail "enrichctl revoke"
fi
# Whatever happened above, let the session finish.
: >"$sig/granted"
: >"$sig/revoked"
wait "$session_pid"
rc=$?
session_pid=
echo "pam_session exit status $rc"
[ "$rc" -eq 0 ] || fail "the session or a check inside it failed (status $rc)"

step "After pam_close_session: the claims key is revoked"
serial=$(cat "$tmp/serial" 2>/dev/null)
if [ -z "$serial" ]; then
        fail "pam_session recorded no claims key serial"
else
        printf '$ %s\n' "keyctl describe $serial"
        out=$(keyctl describe "$serial" 2>&1)
        rc=$?
        echo "$out"
        if [ "$rc" -eq 0 ]; then
                fail "key $serial is still alive after the session closed"
        else
                case $out in
                *revoked* | *"not available"*) echo "key $serial is revoked or gone: good" ;;
                *) fail "unexpected answer for key $serial" ;;
                esac
        fi
fi

step "The daemon's status after the session"
show "$B/enrichctl" --socket "$tmp/io.enrich" status || fail "enrichctl status"

step "What enrichd logged"
cat "$tmp/enrichd.log"

if [ "$failed" -eq 0 ]; then
        step "Demo finished: every step passed"
fi
exit "$failed"
