[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# async_writes.sh: an admin's --fleet write never holds up the host it
# runs on. With etcd frozen (SIGSTOP: connections accepted, no answer),
# a `grant --fleet` and a `disable --fleet` on the issuer host a wait for
# etcd off the main loop: meanwhile `status` and a real PAM login on a
# answer at once, and each admin command then fails with a clear error
# (no answer within the write timeout). Once etcd is back, the same
# commands succeed: the grant reaches a's live key, its revocation (etcd
# first, then here) takes it away, and disable/enable --fleet apply here.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-async-setup fleet-async-status-while-write-waits fleet-async-login-while-write-waits
fleet-async-grant-fails-clearly fleet-async-grant-bounded fleet-async-disable-fails-clearly
fleet-async-grant-after-thaw fleet-async-revoke-after-thaw fleet-async-disable-after-thaw
fleet-async-enable-after-thaw"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_keys || exit 1
fleet_host a host-a '"admin"'
use_host a
check fleet-async-setup eval 'host_start a && session_open s1 "$U1"' || { show "$TMP/a/enrichd.log"; exit 1; }
S1=$(session_serial s1)

# --- etcd frozen: the admin's writes wait, nobody else does
kill -STOP "$ETCD_PID"
T0=$(ms_now)
(hctl a grant "$U1" --scope frozen:x --ttl 10m --reason frozen --fleet >"$TMP/grant.out" 2>&1; echo $? >"$TMP/grant.rc"
        ms_now >"$TMP/grant.end") &
GRANT_JOB=$!
(hctl a disable "$U2" --reason frozen --fleet >"$TMP/disable.out" 2>&1; echo $? >"$TMP/disable.rc") &
DISABLE_JOB=$!
sleep 0.3
login_fast() {
        "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" -- true >"$TMP/login.out" 2>&1 &&
                [ "$(pam_ms "$TMP/login.out")" -lt 500 ]
}
check fleet-async-login-while-write-waits login_fast || show "$TMP/login.out"
S0=$(ms_now)
hctl a status >"$TMP/status.out" 2>&1
STATUS_MS=$(($(ms_now) - S0))
echo "# status on a while its fleet writes wait for a frozen etcd: $STATUS_MS ms"
status_fast() { [ "$STATUS_MS" -lt 500 ] && grep -qi "policy" "$TMP/status.out"; }
check fleet-async-status-while-write-waits status_fast || show "$TMP/status.out"
wait "$GRANT_JOB" "$DISABLE_JOB"
GRANT_MS=$(($(cat "$TMP/grant.end") - T0))
echo "# grant --fleet against a frozen etcd answered after $GRANT_MS ms"
grant_failed() { [ "$(cat "$TMP/grant.rc")" != 0 ] && grep -q "no answer within\|timed out" "$TMP/grant.out"; }
check fleet-async-grant-fails-clearly grant_failed || show "$TMP/grant.out"
sed 's/^/# /' "$TMP/grant.out"
check fleet-async-grant-bounded test "$GRANT_MS" -lt 5000
disable_failed() { [ "$(cat "$TMP/disable.rc")" != 0 ] && grep -q "no answer within\|timed out" "$TMP/disable.out"; }
check fleet-async-disable-fails-clearly disable_failed || show "$TMP/disable.out"
kill -CONT "$ETCD_PID"

# --- etcd back: the same commands go through, answered once etcd has them
ID=$(hctl a grant "$U1" --scope thawed:x --ttl 10m --reason thawed --fleet 2>"$TMP/grant2.err")
check fleet-async-grant-after-thaw poll 30 has_scope "$S1" thawed:x || { show "$TMP/grant2.err"; show "$TMP/a/enrichd.log"; }
revoked() { hctl a revoke "$ID" >"$TMP/revoke.out" 2>&1 && lacks_scope "$S1" thawed:x; }
check fleet-async-revoke-after-thaw revoked || show "$TMP/revoke.out"
listed() { grep -qx "$U2" "$TMP/a/disabled-identities" 2>/dev/null; }
disabled() { hctl a disable "$U2" --reason thawed --fleet >"$TMP/disable2.out" 2>&1 && listed; }
check fleet-async-disable-after-thaw disabled || show "$TMP/disable2.out"
enabled() { hctl a enable "$U2" --fleet >"$TMP/enable.out" 2>&1 && ! listed; }
check fleet-async-enable-after-thaw enabled || show "$TMP/enable.out"

session_close s1
host_stop a
exit "$FAILED"
