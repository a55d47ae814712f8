[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# async_reads.sh: the admin's reads of etcd (enrichctl doctor's FleetCheck,
# audit verify --fleet) never hold up the host they run on. With etcd
# frozen (SIGSTOP: connections accepted, no answer), a doctor and an
# audit verify --fleet on host a wait for etcd off the main loop:
# meanwhile `status` and a real PAM login on a answer at once; then
# doctor says etcd does not answer and audit verify fails clearly. Once
# etcd is back both succeed.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-async-reads-setup fleet-async-reads-login-while-reads-wait fleet-async-reads-status-while-reads-wait
fleet-async-reads-doctor-says-unreachable fleet-async-reads-verify-fails-clearly fleet-async-reads-doctor-after-thaw
fleet-async-reads-verify-after-thaw fleet-async-reads-stop-answers"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_keys || exit 1
fleet_host a host-a '"admin"'
use_host a
verify_ok() { hctl a audit verify --fleet host-a >"$TMP/verify.out" 2>&1 && grep -q "seals the same row" "$TMP/verify.out"; }
setup() {
        host_start a && session_open s1 "$U1" && hctl a grant "$U1" --scope r:1 --ttl 5m --reason r >/dev/null 2>&1 &&
                hctl a audit checkpoint >/dev/null && poll 50 verify_ok
}
check fleet-async-reads-setup setup || { show "$TMP/verify.out"; show "$TMP/a/enrichd.log"; exit 1; }

# --- etcd frozen: doctor and audit verify --fleet wait, nobody else does
kill -STOP "$ETCD_PID"
(hctl a doctor >"$TMP/doctor.out" 2>&1; echo $? >"$TMP/doctor.rc") &
DOCTOR_JOB=$!
(hctl a audit verify --fleet host-a >"$TMP/verify2.out" 2>&1; echo $? >"$TMP/verify2.rc") &
VERIFY_JOB=$!
sleep 0.5
login_fast() {
        "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" -- true >"$TMP/login.out" 2>&1 &&
                [ "$(pam_ms "$TMP/login.out")" -lt 500 ]
}
check fleet-async-reads-login-while-reads-wait login_fast || show "$TMP/login.out"
S0=$(ms_now)
hctl a status >"$TMP/status.out" 2>&1
STATUS_MS=$(($(ms_now) - S0))
echo "# status on a while doctor and audit verify --fleet wait for a frozen etcd: $STATUS_MS ms"
status_fast() { [ "$STATUS_MS" -lt 500 ] && grep -qi "policy" "$TMP/status.out"; }
check fleet-async-reads-status-while-reads-wait status_fast || show "$TMP/status.out"
wait "$DOCTOR_JOB" "$VERIFY_JOB"
check fleet-async-reads-doctor-says-unreachable grep -q "etcd does not answer" "$TMP/doctor.out" || show "$TMP/doctor.out"
verify_failed() { [ "$(cat "$TMP/verify2.rc")" != 0 ] && grep -q "no answer within\|timed out" "$TMP/verify2.out"; }
check fleet-async-reads-verify-fails-clearly verify_failed || show "$TMP/verify2.out"
sed 's/^/# /' "$TMP/verify2.out"
kill -CONT "$ETCD_PID"

# --- etcd back: both answer
doctor_ok() { hctl a doctor >"$TMP/doctor2.out" 2>&1; grep -q "the etcd credentials authenticate\|clock within" "$TMP/doctor2.out"; }
check fleet-async-reads-doctor-after-thaw poll 50 doctor_ok || show "$TMP/doctor2.out"
check fleet-async-reads-verify-after-thaw poll 50 verify_ok || show "$TMP/verify.out"
session_close s1

# --- a stop while both wait for a frozen etcd: each caller hears, and the
# daemon goes cleanly (host_stop's check)
kill -STOP "$ETCD_PID"
(hctl a doctor >"$TMP/doctor3.out" 2>&1) &
DOCTOR_JOB=$!
(hctl a audit verify --fleet host-a >"$TMP/verify3.out" 2>&1) &
VERIFY_JOB=$!
sleep 0.5
host_stop a
kill -CONT "$ETCD_PID"
wait "$DOCTOR_JOB" "$VERIFY_JOB"
answered() {
        grep -q "cannot check etcd\|etcd does not answer" "$TMP/doctor3.out" &&
                grep -q "FleetUnavailable" "$TMP/verify3.out"
}
check fleet-async-reads-stop-answers answered ||
        { show "$TMP/doctor3.out"; show "$TMP/verify3.out"; }
exit "$FAILED"
