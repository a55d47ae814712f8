[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# failure.sh: docs/contract.md's failure behaviour. With the daemon stopped, its
# socket left stale, or a "daemon" that accepts and never answers, fail=open
# opens the session without a key and fail=closed refuses it with
# PAM_SESSION_ERR, both decided within the module's timeout.
. "$(dirname "$0")/lib.sh"

CASES="stopped stale hung"
CHECKS="daemon-up-session-gets-key daemon-clean-shutdown hung-default-timeout-refused hung-default-timeout-bounded"
for c in $CASES; do
        CHECKS="$CHECKS $c-fail-open-opens $c-fail-open-no-key $c-fail-open-within-timeout
                $c-fail-closed-refused $c-fail-closed-within-timeout"
done
enrich_require $CHECKS
enrich_setup

TIMEOUT=500
SLACK=300
SESSION_ERR="Cannot make/remove an entry for the specified session"
enrich_pam_service enrich-stopped-open "socket=$SOCK timeout=$TIMEOUT fail=open"
enrich_pam_service enrich-stopped-closed "socket=$SOCK timeout=$TIMEOUT fail=closed"
enrich_pam_service enrich-stale-open "socket=$TMP/stale.sock timeout=$TIMEOUT fail=open"
enrich_pam_service enrich-stale-closed "socket=$TMP/stale.sock timeout=$TIMEOUT fail=closed"
enrich_pam_service enrich-hung-open "socket=$TMP/hung.sock timeout=$TIMEOUT fail=open"
enrich_pam_service enrich-hung-closed "socket=$TMP/hung.sock timeout=$TIMEOUT fail=closed"
enrich_pam_service enrich-hung-default "socket=$TMP/hung.sock fail=closed"

# session SERVICE: one login of U1; leaves $TMP/SERVICE.{err,serial} and
# sets RC.
session() {
        "$PAM_SESSION" --confdir "$PAMDIR" --service "$1" --user "$U1" \
                --serial-file "$TMP/$1.serial" >/dev/null 2>"$TMP/$1.err"
        RC=$?
}

# A control: with the daemon up, the fail=closed service of the "stopped"
# case opens with a key, so the failures below come from the daemon being
# gone and not from a broken configuration.
if enrich_start_daemon; then
        session enrich-stopped-closed
        up_ok() { [ "$RC" = 0 ] && [ -s "$TMP/enrich-stopped-closed.serial" ]; }
        check daemon-up-session-gets-key up_ok || show "$TMP/enrich-stopped-closed.err"
else
        fail daemon-up-session-gets-key "enrichd did not start"
fi
enrich_stop_daemon

# A socket file nobody listens on, as a crashed daemon leaves behind.
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TMP/stale.sock"

"$PY" "$HERE/hung_listener.py" "$TMP/hung.sock" &
CLEANUP_PIDS="$CLEANUP_PIDS $!"
for i in $(seq 50); do [ -S "$TMP/hung.sock" ] && break; sleep 0.1; done

within() {      # within FILE LIMIT_MS
        local ms
        ms=$(pam_ms "$1")
        [ -n "$ms" ] && [ "$ms" -lt "$2" ] || { echo "# took ${ms:-?} ms, limit $2 ms"; return 1; }
}
for c in $CASES; do
        session "enrich-$c-open"
        check_eq "$c-fail-open-opens" 0 "$RC"
        check_not "$c-fail-open-no-key" test -s "$TMP/enrich-$c-open.serial"
        check "$c-fail-open-within-timeout" within "$TMP/enrich-$c-open.err" $((TIMEOUT + SLACK))

        session "enrich-$c-closed"
        refused() { [ "$RC" = 3 ] && grep -q "^pam_open_session: $SESSION_ERR in" "$TMP/enrich-$c-closed.err"; }
        check "$c-fail-closed-refused" refused || show "$TMP/enrich-$c-closed.err"
        check "$c-fail-closed-within-timeout" within "$TMP/enrich-$c-closed.err" $((TIMEOUT + SLACK))
done

# Without timeout= the default of 1500 ms bounds a hung daemon.
session enrich-hung-default
refused() { [ "$RC" = 3 ] && grep -q "^pam_open_session: $SESSION_ERR in" "$TMP/enrich-hung-default.err"; }
check hung-default-timeout-refused refused || show "$TMP/enrich-hung-default.err"
check hung-default-timeout-bounded within "$TMP/enrich-hung-default.err" $((1500 + SLACK))

enrich_finish
