[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# lib.sh: shared setup for the integration tests, sourced by every other
# script here. Defines functions only, so running it directly (tests/run.sh
# runs every *.sh) does nothing. A test calls enrich_setup, which needs root,
# creates two throwaway users, a temporary folder with enrichd.conf and a PAM
# configuration folder, and arranges for all of it to be undone on exit.

B=${ENRICH_BUILD:-build}
PY=/usr/bin/python3     # Debian's, which has python3-jwt; not the pyenv one on PATH
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAILED=0

ok() { echo "ok $1"; }
fail() { echo "not ok $1${2:+ ($2)}"; FAILED=1; }
skip() { echo "skip $1: $2"; }
# check NAME CMD...: ok when CMD succeeds. Each check_* returns non-zero
# on failure, so a caller can add evidence: check x cmd || show FILE.
check() {
        local name=$1; shift
        if "$@"; then ok "$name"; else fail "$name" "failed: $*"; return 1; fi
}
# check_not NAME CMD...: ok when CMD fails.
check_not() {
        local name=$1; shift
        if "$@"; then fail "$name" "unexpectedly succeeded: $*"; return 1; else ok "$name"; fi
}
# check_eq NAME EXPECTED ACTUAL
check_eq() {
        if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "expected '$2', got '$3'"; return 1; fi
}
# The test's verdict: run.sh also counts the lines, this makes a script's
# own exit status agree with them.
# A daemon still running is stopped first, and must shut down cleanly.
enrich_finish() {
        [ -n "$DAEMON_PID" ] && enrich_stop_daemon
        exit "$FAILED"
}

# enrich_require NAMES...: skips every planned check (and exits 0) unless we
# are root; the tests create users, write loginuid and read root's keys.
enrich_require() {
        local why="" n
        if [ "$(id -u)" -ne 0 ]; then
                why="needs root (creates users, starts audit sessions, drives PAM)"
        elif ! command -v keyctl >/dev/null || ! command -v useradd >/dev/null ||
             ! command -v setpriv >/dev/null || [ ! -x "$PY" ]; then
                why="needs keyctl (keyutils), useradd, setpriv and $PY"
        fi
        if [ -n "$why" ]; then
                for n in "$@"; do skip "$n" "$why"; done
                exit 0
        fi
        for n in enrichd enrichctl pam_enrich.so tests/pam_session; do
                if [ ! -e "$B/$n" ]; then
                        fail "build-present" "$B/$n is missing; run make tests"
                        exit 1
                fi
        done
}

CLEANUP_PIDS=""
CREATED_USERS=""
CREATED_GROUPS=""
DAEMON_PID=""
TMP=""

# Everything the test created goes, whatever happened: background processes
# (by pid), the daemon, the users, the temporary folder.
enrich_cleanup() {
        local p u g i
        set +e
        for p in $CLEANUP_PIDS $DAEMON_PID; do
                kill "$p" 2>/dev/null
        done
        for p in $CLEANUP_PIDS $DAEMON_PID; do
                for i in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$p" 2>/dev/null
        done
        for u in $CREATED_USERS; do
                # The kernel keeps a uid's user keyring after the account is
                # gone, and the next test user with that uid would find in
                # it what this one left (a planted enrich:claims key).
                runuser -u "$u" -- keyctl clear @u >/dev/null 2>&1
                userdel -f "$u" >/dev/null 2>&1 || echo "# could not remove user $u" >&2
        done
        for g in $CREATED_GROUPS; do
                groupdel "$g" >/dev/null 2>&1 || echo "# could not remove group $g" >&2
        done
        if [ -n "$ENRICH_KEEP_TMP" ] && [ -n "$TMP" ]; then
                echo "# kept $TMP" >&2
        elif [ -n "$TMP" ]; then
                rm -rf "$TMP"
        fi
}

# enrich_add_user NAME: a system account without a home, removed on exit.
enrich_add_user() {
        useradd -M -d /nonexistent -s /bin/sh "$1" || return 1
        CREATED_USERS="$CREATED_USERS $1"
}

# enrich_pam_service NAME MODULE-ARGS...: a PAM service in our confdir whose
# session stack is pam_permit followed by the module under test. pam_permit
# first makes the stack's verdict the module's own: a module answering
# PAM_IGNORE for fail=open still opens the session, PAM_SESSION_ERR from it
# still refuses.
enrich_pam_service() {
        local name=$1; shift
        cat >"$PAMDIR/$name" <<EOF
auth     required pam_permit.so
account  required pam_permit.so
session  required pam_permit.so
session  required $BUILD/pam_enrich.so $*
EOF
}

enrich_setup() {
        trap enrich_cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        BUILD=$(cd "$B" && pwd)
        PAM_SESSION=$BUILD/tests/pam_session
        ENRICHCTL=$BUILD/enrichctl
        ENRICHD=$BUILD/enrichd
        TMP=$(mktemp -d /tmp/enrich-it.XXXXXX) || exit 1
        # Test users run enrichctl and read jwks.json from here.
        chmod 0755 "$TMP"
        SOCK=$TMP/io.enrich
        JWKS=$TMP/jwks.json
        PAMDIR=$TMP/pam.d
        MACHINE_ID=$(cat /etc/machine-id)
        mkdir -p "$PAMDIR" "$TMP/state" && chmod 0700 "$TMP/state"
        U1=enrich-t1-$$
        U2=enrich-t2-$$
        if ! enrich_add_user "$U1" || ! enrich_add_user "$U2"; then
                fail "setup-users" "useradd failed"
                exit 1
        fi
        U1_UID=$(id -u "$U1")
        U2_UID=$(id -u "$U2")
        cat >"$TMP/enrichd.conf" <<EOF
socket = "$SOCK";
userdb_socket = "$TMP/io.enrich.Groups";
jwks = "$JWKS";
state_dir = "$TMP/state";
issuer = "enrichd@integration-test";
claims_ttl = 600;
max_ttl = 3600;
rules = (
  { name = "integration-test";
    match = { services = ["enrich-test"]; };
    grant = { groups = ["g-test"]; scopes = ["s:read", "s:write"]; tenant = "acme"; };
  }
);
EOF
        enrich_pam_service enrich-test "socket=$SOCK timeout=1500"
        # New kernel audit sessions need audit support and, once a loginuid
        # is set, CAP_AUDIT_CONTROL (containers often lack both). Without
        # them the asid checks skip and sessions inherit ours.
        if sh -c 'echo 0 >/proc/self/loginuid' 2>/dev/null; then
                AUDIT_FLAG=--new-audit-session
        else
                AUDIT_FLAG=""
        fi
}

# skip_unless_audit NAME: true if audit sessions work, else prints a skip.
skip_unless_audit() {
        [ -n "$AUDIT_FLAG" ] && return 0
        skip "$1" "cannot start kernel audit sessions here (no audit or no CAP_AUDIT_CONTROL)"
        return 1
}

# Starts build/enrichd in the foreground on our config and waits (at most
# 30 s) until it answers on its socket, with its JWKS written. Its output goes
# to $TMP/enrichd.log. Answering, not the socket file: after a kill the old
# daemon's socket and JWKS are still there while the new one starts. The
# bound is for a daemon that never comes up, not a measure of start-up: an
# ASan build on a loaded 2-core machine takes seconds (first key, schema).
enrich_start_daemon() {
        local i
        "$ENRICHD" --config "$TMP/enrichd.conf" --foreground >>"$TMP/enrichd.log" 2>&1 &
        DAEMON_PID=$!
        for i in $(seq 300); do
                if [ -S "$SOCK" ] && [ -s "$JWKS" ] && "$ENRICHCTL" --socket "$SOCK" status >/dev/null 2>&1; then
                        return 0
                fi
                kill -0 "$DAEMON_PID" 2>/dev/null || break
                sleep 0.1
        done
        echo "# enrichd did not come up; its log:"
        sed 's/^/#   /' "$TMP/enrichd.log"
        return 1
}

# Stops the daemon with SIGTERM and checks it went within 20 s, with status
# 0 (or death by that SIGTERM) and no sanitizer report (make asan). 20 s,
# not less: under ASan the exit includes LeakSanitizer's scan of the heap,
# and a SIGKILL before it ends would fail the check for slowness alone.
enrich_stop_daemon() {
        local i status
        [ -n "$DAEMON_PID" ] || return 0
        kill "$DAEMON_PID" 2>/dev/null
        for i in $(seq 200); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
        status=$?
        DAEMON_PID=""
        clean_shutdown() {
                { [ "$status" = 0 ] || [ "$status" = 143 ]; } &&
                        ! grep -q 'Sanitizer\|runtime error' "$TMP/enrichd.log"
        }
        check daemon-clean-shutdown clean_shutdown ||
                { echo "# enrichd exit status $status"; show "$TMP/enrichd.log"; }
}

# as_user USER CMD...: runs CMD as USER outside any PAM session.
as_user() {
        local u=$1; shift
        setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"
}

# pam_ms FILE [open|close]: the "in N ms" figure pam_session printed.
pam_ms() {
        sed -n "s/^pam_${2:-open}_session: .* in \([0-9]*\) ms$/\1/p" "$1" | head -n1
}

# Dumps a file into the output as comments, to explain a failure.
show() { [ -f "$1" ] && sed "s|^|#   $(basename "$1"): |" "$1"; }

# ---- helpers for the policy, grant and refresh suites -----------------

# enrich_add_group NAME [MEMBER,...]: a throwaway Unix group, removed on exit.
enrich_add_group() {
        groupadd "$1" || return 1
        CREATED_GROUPS="$CREATED_GROUPS $1"
        [ -z "$2" ] || gpasswd -M "$2" "$1" >/dev/null
}

# enrich_write_config [FILE]: writes the test instance's paths followed by
# stdin (settings, groups, rules) to FILE, default $TMP/enrichd.conf.
enrich_write_config() {
        local f=${1:-$TMP/enrichd.conf}
        {
                printf 'socket = "%s";\nuserdb_socket = "%s";\njwks = "%s";\n' \
                        "$SOCK" "$TMP/io.enrich.Groups" "$JWKS"
                printf 'state_dir = "%s";\nissuer = "enrichd@integration-test";\n' "$TMP/state"
                cat
        } >"$f"
}

# ctl ARGS...: enrichctl as root on the test daemon.
ctl() { "$ENRICHCTL" --socket "$SOCK" --jwks "$JWKS" "$@"; }
# ctl_as USER ARGS...: enrichctl as USER (outside any session).
ctl_as() { local u=$1; shift; as_user "$u" "$ENRICHCTL" --socket "$SOCK" --jwks "$JWKS" "$@"; }

# poll TENTHS CMD...: runs CMD every 0.1 s until it succeeds or TENTHS
# tries have failed.
poll() {
        local n=$1 i; shift
        for i in $(seq "$n"); do
                "$@" && return 0
                sleep 0.1
        done
        "$@"
}

# poll_started N CMD...: as poll, printing when (date +%s%N) the look that
# found CMD true began, or nothing. A look can be slow (a python decode on
# a loaded machine): timing its start counts the daemon's time, not the
# test's.
poll_started() {
        local n=$1 i t; shift
        for i in $(seq "$n"); do
                t=$(date +%s%N)
                "$@" && { echo "$t"; return 0; }
                sleep 0.1
        done
        return 1
}

# key_claims SERIAL: the JWS payload of the key SERIAL, read by root
# through its owner permission and decoded (not verified) as JSON on
# stdout; fails when the key is gone, revoked or not a JWS.
key_claims() {
        local token
        token=$(keyctl pipe "$1" 2>/dev/null) || return 1
        "$PY" -c 'import base64, json, sys
p = sys.argv[1].split(".")[1]
print(json.dumps(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))))' "$token" 2>/dev/null
}
# jwt_claim NAME PYTHON-EXPR: true when EXPR holds for c = the payload of
# the compact JWS saved in $TMP/NAME.jwt (a session's token, dumped from
# inside it).
jwt_claim() {
        [ -s "$TMP/$1.jwt" ] || return 1
        [ "$("$PY" -c 'import base64, json, sys
p = open(sys.argv[1]).read().strip().split(".")[1]
c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
print(bool(eval(sys.argv[2])))' "$TMP/$1.jwt" "$2" 2>/dev/null)" = True ]
}
# claim_has SERIAL PYTHON-EXPR: true when EXPR holds for c = the key's
# payload, e.g. claim_has "$S" 'c.get("tenant") is None'.
claim_has() {
        local json
        json=$(key_claims "$1") || return 1
        [ "$("$PY" -c 'import json, sys; c = json.loads(sys.argv[1]); print(bool(eval(sys.argv[2])))' \
                "$json" "$2" 2>/dev/null)" = True ]
}
# About a live key: has_scope SERIAL SCOPE, lacks_scope, has_group, lacks_group.
has_scope() { claim_has "$1" '"'"$2"'" in (c.get("scope") or "").split()'; }
lacks_scope() { claim_has "$1" '"'"$2"'" not in (c.get("scope") or "").split()'; }
has_group() { claim_has "$1" '"'"$2"'" in (c.get("groups") or [])'; }
lacks_group() { claim_has "$1" '"'"$2"'" not in (c.get("groups") or [])'; }
key_alive() { keyctl describe "$1" >/dev/null 2>&1; }
key_dead() { ! keyctl describe "$1" >/dev/null 2>&1; }
# claim SERIAL NAME: one claim of the key's payload (JSON-encoded).
claim() {
        local json
        json=$(key_claims "$1") || return 1
        "$PY" -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1]).get(sys.argv[2])))' "$json" "$2"
}

# A long-lived login: session_open NAME USER [pam_session options...]
# opens a real PAM session for USER through the enrich-test service and
# keeps it open, running an agent inside it as USER, until session_close
# NAME. Sets ${NAME}_PID (pam_session); the agent writes into $TMP/NAME
# its claims key's serial (as the session sees it) and its pid.
# session_whoami NAME asks the agent to run `enrichctl whoami --json`
# inside the session; the answer lands in $TMP/NAME/whoami.json.
session_open() {
        local name=$1 user=$2 dir=$TMP/$1 pid; shift 2
        mkdir -p "$dir" && chown "$user" "$dir"
        cat >"$TMP/agent.sh" <<'EOF'
dir=$1 jwks=$2 ctl=$3
cd "$dir" || exit 1
echo $$ >agent.pid
keyctl search @s user enrich:claims >serial 2>serial.err
: >ready
while [ ! -e done ]; do
        if [ -e whoami.req ]; then
                rm -f whoami.req whoami.ok
                ENRICH_JWKS=$jwks "$ctl" --jwks "$jwks" whoami --json >whoami.json 2>whoami.err
                echo $? >whoami.rc
                : >whoami.ok
        fi
        sleep 0.05
done
EOF
        "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$user" "$@" \
                -- sh "$TMP/agent.sh" "$dir" "$JWKS" "$ENRICHCTL" >"$dir.out" 2>"$dir.err" &
        pid=$!
        CLEANUP_PIDS="$CLEANUP_PIDS $pid"
        eval "${name}_PID=$pid"
        # 30 s at most, or until pam_session is gone: a login through the
        # ASan module and daemon on a loaded machine can take seconds, and
        # giving up early would fail the checks that follow for slowness.
        poll 300 eval 'test -e "$dir/ready" || ! kill -0 "$pid" 2>/dev/null'
        test -e "$dir/ready" || { echo "# session $name did not start"; show "$dir.err"; return 1; }
        # The agent outlives a killed pam_session; clean it up as well.
        CLEANUP_PIDS="$CLEANUP_PIDS $(cat "$dir/agent.pid")"
        [ -s "$dir/serial" ] ||
                { echo "# session $name has no claims key"; show "$dir.err"; show "$dir/serial.err"; return 1; }
}
session_serial() { cat "$TMP/$1/serial" 2>/dev/null; }
session_whoami() {
        local dir=$TMP/$1
        rm -f "$dir/whoami.ok" "$dir/whoami.json"
        : >"$dir/whoami.req"
        poll 300 test -e "$dir/whoami.ok" && [ "$(cat "$dir/whoami.rc")" = 0 ]
}
session_close() {
        local pid
        : >"$TMP/$1/done" 2>/dev/null
        eval "pid=\${$1_PID}"
        [ -n "$pid" ] && wait "$pid" 2>/dev/null
}
