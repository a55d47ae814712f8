[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# asan_module.sh: under `make asan`, the sanitized module loaded into an
# unsanitized program, as sshd or sudo load it: the plain build's
# pam_session with libasan preloaded (ASan must be the first library in a
# process; a module dlopen()ed later cannot bring it). Several logins in
# one process, then the failure paths (daemon gone, fail=closed); any
# sanitizer report, leaks included, fails. Skips outside `make asan`.
. "$(dirname "$0")/lib.sh"

CHECKS="asan-module-unsanitized-host-logins asan-module-unsanitized-host-daemon-gone
asan-module-no-sanitizer-report daemon-clean-shutdown"
PLAIN=${ENRICH_PLAIN_BUILD:-build}
LIBASAN=$(gcc -print-file-name=libasan.so 2>/dev/null)
why=""
if ! readelf -d "$B/pam_enrich.so" 2>/dev/null | grep -q libasan; then
        why="$B/pam_enrich.so is not a sanitizer build (run make asan)"
elif [ ! -x "$PLAIN/tests/pam_session" ] || readelf -d "$PLAIN/tests/pam_session" | grep -q libasan; then
        why="no unsanitized $PLAIN/tests/pam_session"
elif [ ! -f "$LIBASAN" ]; then
        why="gcc does not know where libasan.so is"
fi
if [ -n "$why" ]; then
        for n in $CHECKS; do skip "$n" "$why"; done
        exit 0
fi
enrich_require $CHECKS
enrich_setup
enrich_pam_service enrich-asan-gone "socket=$TMP/none.sock timeout=300 fail=closed"
if ! enrich_start_daemon; then
        fail daemon-starts "enrichd did not start"
        exit 1
fi
host() { LD_PRELOAD=$LIBASAN "$PLAIN/tests/pam_session" "$@"; }

# Three logins in one process, each running (sanitized) enrichctl check,
# which fails unless that login's own claims key is there and verifies.
host --repeat 3 --confdir "$PAMDIR" --service enrich-test --user "$U1" \
        -- "$ENRICHCTL" --jwks "$JWKS" check --scope s:read >"$TMP/a1.out" 2>"$TMP/a1.err"
RC1=$?
logins_ok() {
        [ "$RC1" = 0 ] && [ "$(grep -c '^pam_open_session: Success' "$TMP/a1.err")" = 3 ] &&
                [ "$(grep -c '^pam_close_session: Success' "$TMP/a1.err")" = 3 ]
}
check asan-module-unsanitized-host-logins logins_ok || show "$TMP/a1.err"
host --confdir "$PAMDIR" --service enrich-asan-gone --user "$U1" -- true >"$TMP/a2.out" 2>"$TMP/a2.err"
RC2=$?
# 3: pam_open_session refused the session (fail=closed), and said so.
check_eq asan-module-unsanitized-host-daemon-gone 3 "$RC2" || show "$TMP/a2.err"
no_report() { ! grep -q 'Sanitizer\|runtime error' "$TMP/a1.err" "$TMP/a2.err"; }
check asan-module-no-sanitizer-report no_report || { show "$TMP/a1.err"; show "$TMP/a2.err"; }
enrich_finish
