[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# session_faults.sh: the login's conversation with the daemon, and what a
# daemon that dies or hangs in the middle of it leaves behind.
# - An open is one round trip: Enrich, carrying the serial of the key the
#   module made (placeholder payload, final owner, group and permissions);
#   the daemon writes the token into it. A close revokes the key and sends
#   EndSession as a oneway call. (A proxy, enrich_proxy.py, logs the calls.)
# - A socket of another group than the daemon's makes the module give the
#   key that group; the daemon refuses such a key (KeyRejected, naming its
#   own group), the module revokes it and tries once more with the
#   daemon's group: the login gets its claims, in two round trips.
# - A daemon that dies between receiving Enrich and replying, after it has
#   signed, written the token into the key and recorded the session, leaves
#   no key in the login: the module revokes the one it made, and the
#   restarted daemon ends the session row. fail=closed refuses that login.
# - A daemon hung (SIGSTOP) before it reads Enrich: the open gives up within
#   timeout=, the key is revoked, and when the daemon wakes it refuses the
#   dead key and records no session.
# - A close with the daemon killed, or hung, revokes the key at once and
#   does not wait for the daemon; the hung one ends the session when it
#   wakes (the oneway EndSession was in its socket).
. "$(dirname "$0")/lib.sh"

CHECKS="open-one-round-trip enrich-carries-key-serial reply-has-no-token close-sends-oneway-endsession
close-ends-session-row wrong-group-key-rejected wrong-group-key-revoked wrong-group-retried-with-daemons
wrong-group-login-gets-key
died-open-token-was-written died-open-fail-open-opens died-open-no-key-in-session died-open-key-revoked
died-open-session-row-recorded died-open-restart-ends-session died-open-fail-closed-refused
died-open-fail-closed-key-revoked
hung-open-within-timeout hung-open-no-key-in-session hung-open-key-revoked hung-open-no-session-row
killed-close-fast killed-close-key-revoked hung-close-fast hung-close-key-revoked hung-close-ends-session-later
daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup

TIMEOUT=800
PROXY=$TMP/proxy.sock
CALLS=$TMP/calls.log
DB=$TMP/state/enrich.db
enrich_pam_service enrich-proxy "socket=$PROXY timeout=$TIMEOUT fail=open"
enrich_pam_service enrich-proxy-closed "socket=$PROXY timeout=$TIMEOUT fail=closed"
enrich_pam_service enrich-direct "socket=$SOCK timeout=$TIMEOUT fail=open"
cp "$PAMDIR/enrich-direct" "$PAMDIR/enrich-test"

start_proxy() {         # start_proxy MODE [DAEMON_PID]
        rm -f "$PROXY" "$CALLS"
        : >"$CALLS"
        "$PY" "$HERE/enrich_proxy.py" "$PROXY" "$SOCK" "$CALLS" "$@" 2>>"$TMP/proxy.err" &
        PROXY_PID=$!
        CLEANUP_PIDS="$CLEANUP_PIDS $PROXY_PID"
        poll 50 test -S "$PROXY"
}
stop_proxy() { kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; }
# login NAME SERVICE: one login of U1 (open and close); $TMP/NAME.{err,serial}, RC.
login() {
        "$PAM_SESSION" --confdir "$PAMDIR" --service "$2" --user "$U1" \
                --serial-file "$TMP/$1.serial" >/dev/null 2>"$TMP/$1.err"
        RC=$?
}
# calls PYTHON-EXPR: evaluates EXPR over c, the list of calls done (with
# their replies), and r, the list of calls received.
LOAD_CALLS='import json, sys
a = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
c = [x for x in a if not x.get("received")]
r = [x for x in a if x.get("received")]'
calls() { [ "$("$PY" -c "$LOAD_CALLS"'
print(bool(eval(sys.argv[2])))' "$CALLS" "$1" 2>/dev/null)" = True ]; }
logged() { "$PY" -c "$LOAD_CALLS"'
print(eval(sys.argv[2]))' "$CALLS" "$1" 2>/dev/null; }
# row SID COLUMN: a column of the session row, straight from the database.
row() {
        "$PY" -c 'import sqlite3, sys
r = sqlite3.connect(sys.argv[1]).execute("SELECT %s FROM sessions WHERE sid = ?" % sys.argv[3], (sys.argv[2],)).fetchone()
print("none" if r is None else r[0])' "$DB" "$1" "$2" 2>/dev/null
}
session_rows() { "$PY" -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM sessions").fetchone()[0])' "$DB"; }
# revoked SERIAL: SERIAL names a key (a number) and that key is dead.
revoked() { [ "${1:-x}" -gt 0 ] 2>/dev/null && key_dead "$1"; }
within() {      # within FILE open|close LIMIT_MS
        local ms
        ms=$(pam_ms "$1" "$2")
        [ -n "$ms" ] && [ "$ms" -lt "$3" ] || { echo "# $2 took ${ms:-?} ms, limit $3 ms"; return 1; }
}

if ! enrich_start_daemon; then
        fail daemon-starts "enrichd did not start"
        exit 1
fi

# ---- the conversation -------------------------------------------------
start_proxy pass
login normal enrich-proxy
# Everything the close sent is in the log once the daemon has served it.
poll 30 calls 'any(x["method"] == "io.enrich.EndSession" for x in c)'
check open-one-round-trip calls '[x["method"] for x in c if not x["oneway"]] == ["io.enrich.Enrich"]' ||
        { show "$CALLS"; show "$TMP/normal.err"; }
check enrich-carries-key-serial calls 'c[0]["keySerial"] and c[0]["keySerial"] > 0'
check reply-has-no-token calls '"token" not in c[0]["reply"]["parameters"] and c[0]["reply"]["parameters"]["sid"]'
check close-sends-oneway-endsession calls '[x["method"] for x in c if x["oneway"]] == ["io.enrich.EndSession"]'
SID=$(logged 'c[0]["reply"]["parameters"]["sid"]')
ended() { [ "$(row "$1" "ended IS NOT NULL")" = 1 ]; }
check close-ends-session-row poll 30 ended "$SID"
stop_proxy

# ---- a key of another group ---------------------------------------------
start_proxy pass
chgrp "$(id -g "$U2")" "$PROXY"
login wronggroup enrich-proxy
check wrong-group-key-rejected calls 'c[0]["reply"].get("error") == "io.enrich.KeyRejected"' || show "$CALLS"
check wrong-group-key-revoked revoked "$(logged 'c[0]["keySerial"]')"
check wrong-group-retried-with-daemons calls \
        '[x["method"] for x in c if not x["oneway"]] == ["io.enrich.Enrich"] * 2 and "error" not in c[1]["reply"]'
check wrong-group-login-gets-key test "$RC" = 0 -a -s "$TMP/wronggroup.serial"
stop_proxy

# ---- the daemon dies between receiving Enrich and replying ------------
died_open() {   # died_open NAME SERVICE
        start_proxy drop "$DAEMON_PID"
        login "$1" "$2"
        DIED_SERIAL=$(logged 'c[0]["keySerial"]')
        DIED_SID=$(logged 'c[0]["reply"]["parameters"]["sid"]')
        DIED_PAYLOAD=$(logged 'c[0]["payload_at_drop"]')
        { wait "$DAEMON_PID"; } 2>/dev/null
        DAEMON_PID=""
        stop_proxy
}
died_open died enrich-proxy
# The worst moment was hit: the daemon had written the token into the key.
token_written() { [ "$(echo "$DIED_PAYLOAD" | tr -cd . | wc -c)" = 2 ]; }
check died-open-token-was-written token_written || { show "$CALLS"; show "$TMP/proxy.err"; }
check died-open-fail-open-opens test "$RC" = 0
check died-open-no-key-in-session test ! -s "$TMP/died.serial"
check died-open-key-revoked revoked "$DIED_SERIAL"
recorded() { [ "${DIED_SERIAL:-x}" -gt 0 ] 2>/dev/null && [ "$(row "$DIED_SID" key_serial)" = "$DIED_SERIAL" ]; }
check died-open-session-row-recorded recorded
enrich_start_daemon || fail daemon-restarts "enrichd did not come back"
# The login's process is gone by now: the restarted daemon ends its row.
check died-open-restart-ends-session poll 50 ended "$DIED_SID"

died_open died-closed enrich-proxy-closed
refused() { [ "$RC" = 3 ] && [ ! -s "$TMP/died-closed.serial" ]; }
check died-open-fail-closed-refused refused || show "$TMP/died-closed.err"
check died-open-fail-closed-key-revoked revoked "$DIED_SERIAL"
enrich_start_daemon || fail daemon-restarts "enrichd did not come back"

# ---- the daemon hangs before it reads Enrich ---------------------------
start_proxy pass
ROWS_BEFORE=$(session_rows)
kill -STOP "$DAEMON_PID"
login hung enrich-proxy
HUNG_SERIAL=$(logged 'r[0]["keySerial"]')
check hung-open-within-timeout within "$TMP/hung.err" open $((TIMEOUT + 400))
check hung-open-no-key-in-session test ! -s "$TMP/hung.serial"
check hung-open-key-revoked revoked "$HUNG_SERIAL"
kill -CONT "$DAEMON_PID"
# Awake, the daemon serves the Enrich it was sent and refuses the dead key.
poll 30 grep -q "Refusing key $HUNG_SERIAL" "$TMP/enrichd.log"
check hung-open-no-session-row test "$(session_rows)" = "$ROWS_BEFORE"
stop_proxy

# ---- a close with the daemon gone or hung ------------------------------
if session_open killed "$U1"; then
        S=$(session_serial killed)
        kill -9 "$DAEMON_PID"
        { wait "$DAEMON_PID"; } 2>/dev/null
        DAEMON_PID=""
        session_close killed
        check killed-close-fast within "$TMP/killed.err" close 300
        check killed-close-key-revoked key_dead "$S"
else
        fail killed-close-fast "no session"
        fail killed-close-key-revoked "no session"
fi
enrich_start_daemon || fail daemon-restarts "enrichd did not come back"
if session_open hungclose "$U1"; then
        S=$(session_serial hungclose)
        HUNG_SID=$("$PY" -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT sid FROM sessions WHERE key_serial = ?", (int(sys.argv[2]),)).fetchone()[0])' "$DB" "$S")
        kill -STOP "$DAEMON_PID"
        session_close hungclose
        check hung-close-fast within "$TMP/hungclose.err" close 300
        check hung-close-key-revoked key_dead "$S"
        kill -CONT "$DAEMON_PID"
        check hung-close-ends-session-later poll 30 ended "$HUNG_SID"
else
        fail hung-close-fast "no session"
        fail hung-close-key-revoked "no session"
        fail hung-close-ends-session-later "no session"
fi
enrich_stop_daemon
enrich_finish
