[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# trust.sh: whom the module talks to. A "daemon" that runs as an ordinary
# user (canned_daemon.py, answering Enrich from constants) is refused unless
# it is the configured daemon_user; when it is, the module asks NSS who
# daemon_user is once per PAM transaction, not at every hook (a login's
# account, open and close run in one transaction under sshd).
. "$(dirname "$0")/lib.sh"

CHECKS="untrusted-peer-refused trusted-peer-gets-key trusted-peer-told-of-end daemon-user-looked-up-once"
enrich_require $CHECKS
enrich_setup
STRACE=$(command -v strace)

mkdir -m 0777 "$TMP/u"
# setpriv itself in the background (not as_user, a function run in a
# subshell), so that $! is the daemon's pid and cleanup stops it.
setpriv --reuid="$U2" --regid="$(id -g "$U2")" --init-groups -- \
        "$PY" "$HERE/canned_daemon.py" "$TMP/u/sock" "$U1_UID" "$TMP/u/calls" &
CLEANUP_PIDS="$CLEANUP_PIDS $!"
for i in $(seq 50); do [ -S "$TMP/u/sock" ] && break; sleep 0.1; done
enrich_pam_service enrich-untrusted "socket=$TMP/u/sock timeout=1000 fail=open"
enrich_pam_service enrich-trusted "socket=$TMP/u/sock timeout=1000 fail=open daemon_user=$U2"

"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-untrusted --user "$U1" \
        --serial-file "$TMP/untrusted.serial" >/dev/null 2>"$TMP/untrusted.err"
refused() { [ ! -s "$TMP/untrusted.serial" ] && [ ! -s "$TMP/u/calls" ]; }
check untrusted-peer-refused refused || { show "$TMP/untrusted.err"; show "$TMP/u/calls"; }

# The PAM transaction under strace (when there is one): the files it opens.
${STRACE:+"$STRACE" -f -e trace=open,openat -o "$TMP/trusted.strace"} \
        "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-trusted --user "$U1" \
        --serial-file "$TMP/trusted.serial" >/dev/null 2>"$TMP/trusted.err"
check trusted-peer-gets-key test -s "$TMP/trusted.serial" || show "$TMP/trusted.err"
told() { grep -qx io.enrich.EndSession "$TMP/u/calls"; }
check trusted-peer-told-of-end told || show "$TMP/u/calls"
# pam_session itself reads the passwd database once (the user to open
# for), the module once for daemon_user at open; the close trusts the same
# peer without asking again.
passwd_reads() { [ "$(grep -c '"/etc/passwd"' "$TMP/trusted.strace")" = 2 ]; }
if [ -n "$STRACE" ]; then
        check daemon-user-looked-up-once passwd_reads || grep '"/etc/passwd"' "$TMP/trusted.strace" | sed 's/^/#   /'
else
        skip daemon-user-looked-up-once "needs strace"
fi
enrich_finish
