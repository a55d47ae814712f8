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
DAEMON_PID=""
TMP=""

# Everything the test created goes, whatever happened: background processes
# (by pid), the daemon, the users, the temporary folder.
enrich_cleanup() {
        local p u i
        set +e
        for p in $CLEANUP_PIDS $DAEMON_PID; do
                kill "$p" 2>/dev/null
        done
        for p in $CLEANUP_PIDS $DAEMON_PID; do
                for i in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$p" 2>/dev/null
        done
        for u in $CREATED_USERS; do
                userdel -f "$u" >/dev/null 2>&1 || echo "# could not remove user $u" >&2
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
# 5 s) for its socket and JWKS. Its output goes to $TMP/enrichd.log.
enrich_start_daemon() {
        local i
        "$ENRICHD" --config "$TMP/enrichd.conf" --foreground >>"$TMP/enrichd.log" 2>&1 &
        DAEMON_PID=$!
        for i in $(seq 50); do
                if [ -S "$SOCK" ] && [ -s "$JWKS" ]; then
                        return 0
                fi
                kill -0 "$DAEMON_PID" 2>/dev/null || break
                sleep 0.1
        done
        echo "# enrichd did not come up; its log:"
        sed 's/^/#   /' "$TMP/enrichd.log"
        return 1
}

# Stops the daemon with SIGTERM and checks it went within 5 s, with status
# 0 (or death by that SIGTERM) and no sanitizer report (make asan).
enrich_stop_daemon() {
        local i status
        [ -n "$DAEMON_PID" ] || return 0
        kill "$DAEMON_PID" 2>/dev/null
        for i in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
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
