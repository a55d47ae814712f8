[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# restart_trust.sh: a host restarted on its database resumes the watch
# from the revision it stored, which brings only what changed since; the
# keys that vouch for a host (enrolments/, hosts/) are held in memory,
# so they are read again at that revision first. Without that, a host
# whose enrolment and presence record did not change while "a" was down
# would have its keys left out of a's fleet JWKS, and a, the issuer,
# would never renew its enrolment after a rotation.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-restart-trust-start fleet-restart-trust-enrolled fleet-restart-trust-resumed
fleet-restart-trust-key-listed fleet-restart-trust-renewed"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }

fleet_pair || exit 1
started() { host_start a && host_start b && poll 50 pair_listed; }
check fleet-restart-trust-start started || { show "$TMP/a/enrichd.log"; show "$TMP/b/enrichd.log"; exit 1; }

KID_B=$(current_kid b)
hctl a fleet enroll host-b --key "$KID_B" >"$TMP/enrol.out" 2>&1 || show "$TMP/enrol.out"
check fleet-restart-trust-enrolled poll 50 in_jwks a "$KID_B" || show "$TMP/a/enrichd.log"

# a restarts; nothing under enrolments/ or hosts/ changes meanwhile
host_stop a
host_start a || { fail fleet-restart-trust-resumed; exit 1; }
check fleet-restart-trust-resumed host_log_has a "resuming from revision"
check fleet-restart-trust-key-listed poll 50 in_jwks a "$KID_B" || { hctl a fleet jwks; show "$TMP/a/enrichd.log"; }

# b rotates: its new key stands by endorsement, and a renews b's enrolment
hctl b keys rotate >"$TMP/rotate.out" 2>&1 || show "$TMP/rotate.out"
KID_B2=$(current_kid b)
renewed() {
        $FLEET_TOOL payload "$(etcdctl get --print-value-only /enrich-test/enrolments/host-b)" |
                grep -q '"by": *"renewal"' && in_jwks a "$KID_B2"
}
check fleet-restart-trust-renewed poll 100 renewed || show "$TMP/a/enrichd.log"
host_stop a
host_stop b
exit "$FAILED"
