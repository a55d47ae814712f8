[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# valgrind.sh: the module as sshd and sudo load it, under valgrind's
# memcheck: several whole logins (pam_start to pam_end) in one process, each
# getting its own claims (no global state survives a pam_end), and the
# failure paths (daemon gone, daemon hung). Any invalid access or definite
# leak fails the check.
. "$(dirname "$0")/lib.sh"

CHECKS="valgrind-repeated-logins-clean valgrind-repeated-logins-each-got-claims
valgrind-keyinit-logins-clean valgrind-keyinit-logins-each-got-claims
valgrind-daemon-gone-clean valgrind-daemon-hung-clean daemon-clean-shutdown"
if ! command -v valgrind >/dev/null; then
        for n in $CHECKS; do skip "$n" "valgrind is not installed"; done
        exit 0
fi
# Valgrind cannot run ASan-instrumented code (make asan's build); the plain
# build is checked under valgrind by make check.
if readelf -d "$B/pam_enrich.so" 2>/dev/null | grep -q libasan; then
        for n in $CHECKS; do skip "$n" "$B is a sanitizer build; valgrind runs on the plain build"; done
        exit 0
fi
enrich_require $CHECKS
enrich_setup
enrich_pam_service enrich-vg-gone "socket=$TMP/none.sock timeout=300 fail=closed"
enrich_pam_service enrich-vg-hung "socket=$TMP/hung.sock timeout=300 fail=closed"
cat >"$PAMDIR/enrich-vg-keyinit" <<EOF
session  required pam_keyinit.so force revoke
session  required $BUILD/pam_enrich.so socket=$SOCK
EOF

VG_ERR=99
vg() {  # vg LOG PAM_SESSION_ARGS...
        local log=$1; shift
        valgrind -q --error-exitcode=$VG_ERR --leak-check=full --show-leak-kinds=definite \
                --errors-for-leak-kinds=definite --log-file="$log" "$PAM_SESSION" "$@"
}

if ! enrich_start_daemon; then
        fail daemon-starts "enrichd did not start"
        exit 1
fi
# Three logins in one process; each runs a command that fails unless its
# own, freshly installed claims key is there and verifies.
vg "$TMP/vg1.log" --repeat 3 --confdir "$PAMDIR" --service enrich-test --user "$U1" \
        -- "$ENRICHCTL" --jwks "$JWKS" check --scope s:read >"$TMP/vg1.out" 2>"$TMP/vg1.err"
RC=$?
check_not valgrind-repeated-logins-clean test "$RC" = $VG_ERR || show "$TMP/vg1.log"
opened=$(grep -c '^pam_open_session: Success' "$TMP/vg1.err")
closed=$(grep -c '^pam_close_session: Success' "$TMP/vg1.err")
held() { [ "$RC" = 0 ] && [ "$opened" = 3 ] && [ "$closed" = 3 ]; }
check valgrind-repeated-logins-each-got-claims held || show "$TMP/vg1.err"
# The same behind pam_keyinit force revoke, as sshd's stack has it: the
# module's keyring replaces pam_keyinit's each time. No rule matches this
# service, so whoami (valid claims) rather than a scope.
vg "$TMP/vg4.log" --repeat 3 --confdir "$PAMDIR" --service enrich-vg-keyinit --user "$U1" \
        -- "$ENRICHCTL" --jwks "$JWKS" whoami >"$TMP/vg4.out" 2>"$TMP/vg4.err"
RC=$?
check_not valgrind-keyinit-logins-clean test "$RC" = $VG_ERR || show "$TMP/vg4.log"
opened=$(grep -c '^pam_open_session: Success' "$TMP/vg4.err")
closed=$(grep -c '^pam_close_session: Success' "$TMP/vg4.err")
check valgrind-keyinit-logins-each-got-claims held || show "$TMP/vg4.err"
enrich_stop_daemon

vg "$TMP/vg2.log" --confdir "$PAMDIR" --service enrich-vg-gone --user "$U1" 2>"$TMP/vg2.err"
RC=$?
gone_ok() { [ "$RC" = 3 ]; }
check valgrind-daemon-gone-clean gone_ok || { show "$TMP/vg2.log"; show "$TMP/vg2.err"; }

"$PY" "$HERE/hung_listener.py" "$TMP/hung.sock" &
CLEANUP_PIDS="$CLEANUP_PIDS $!"
for i in $(seq 50); do [ -S "$TMP/hung.sock" ] && break; sleep 0.1; done
vg "$TMP/vg3.log" --confdir "$PAMDIR" --service enrich-vg-hung --user "$U1" 2>"$TMP/vg3.err"
RC=$?
hung_ok() { [ "$RC" = 3 ]; }
check valgrind-daemon-hung-clean hung_ok || { show "$TMP/vg3.log"; show "$TMP/vg3.err"; }

enrich_finish
