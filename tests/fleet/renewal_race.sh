[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# renewal_race.sh: an issuer's renewal never writes over an enrolment it
# was not made from. Host "a" is the issuer, "b" is not; b rotates, so a
# renews b's enrolment to list the new key. The test hook
# ENRICH_FLEET_TEST_RENEWAL_DELAY_MS holds that signed renewal for 2 s
# between signing and writing, and meanwhile an admin's enrolment (here
# signed with the issuer's key by the test, as another issuer's enrichd
# would) lands in etcd. Written over by the renewal, which carries the
# older endorsedSince, it would be refused by every host and b's keys
# would leave the fleet JWKS until an admin enrolled again (CI saw this
# race between `fleet enroll` and a renewal on one issuer). The renewal
# is a put only while the enrolment is the one it was made from, so the
# admin's stands and b's new key stays listed. Then: an etcd writer that
# keeps touching the enrolment gets a dropped renewal made again only
# every 10 s, and an enrolment deleted under a held renewal stays deleted.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-renewal-race-start fleet-renewal-race-enrolled fleet-renewal-race-held fleet-renewal-race-not-written
fleet-renewal-race-admin-enrolment-stands fleet-renewal-race-key-listed fleet-renewal-race-touched-spaced
fleet-renewal-race-renewed-once-left
fleet-renewal-race-deleted-held fleet-renewal-race-deleted-not-written fleet-renewal-race-deleted-stays"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }

fleet_pair || exit 1
started() { ENRICH_FLEET_TEST_RENEWAL_DELAY_MS=2000 host_start a && host_start b && poll 50 pair_listed; }
check fleet-renewal-race-start started || { show "$TMP/a/enrichd.log"; show "$TMP/b/enrichd.log"; exit 1; }

KID_B=$(current_kid b)
hctl a fleet enroll host-b --key "$KID_B" >"$TMP/enrol.out" 2>&1 || show "$TMP/enrol.out"
check fleet-renewal-race-enrolled poll 50 both_in_jwks "$KID_B" || show "$TMP/a/enrichd.log"

# b rotates: its new key stands by the old one's endorsement, and a signs
# a renewal listing it, held by the hook before it is written
hctl b keys rotate >"$TMP/rotate.out" 2>&1 || show "$TMP/rotate.out"
KID_B2=$(current_kid b)
held() { host_log_has a "Test hook: writing the signed record /enrich-test/enrolments/host-b in 2000 ms"; }
check fleet-renewal-race-held poll 50 held || show "$TMP/a/enrichd.log"

# meanwhile an admin's enrolment listing the new key lands in etcd
$FLEET_TOOL public "$TMP/b/state/signing-key.pem" >"$TMP/b2.jwks"
ADMIN=$($FLEET_TOOL enrolment host-b "$TMP/b2.jwks" | $PY -c 'import json, sys, time
p = json.load(sys.stdin); p["at"] = p["endorsedSince"] = int(time.time()) + 1; p["by"] = "admin-elsewhere"
print(json.dumps(p))')
etcdctl put /enrich-test/enrolments/host-b "$(signed "$TMP/a.pem" "$ADMIN")" >/dev/null

not_written() { host_log_has a "Not renewing the fleet enrolment of host host-b: it changed in etcd since"; }
check fleet-renewal-race-not-written poll 50 not_written || show "$TMP/a/enrichd.log"
stands() {
        $FLEET_TOOL payload "$(etcdctl get --print-value-only /enrich-test/enrolments/host-b)" |
                grep -q '"by": *"admin-elsewhere"'
}
check fleet-renewal-race-admin-enrolment-stands stands ||
        etcdctl get --print-value-only /enrich-test/enrolments/host-b | sed 's/^/#   /'
# past the held write's time, on both hosts
listed() { sleep 1; both_in_jwks "$KID_B2"; }
check fleet-renewal-race-key-listed poll 30 listed || { show "$TMP/a/enrichd.log"; show "$TMP/b/enrichd.log"; }

# An etcd writer without an issuer key puts b's enrolment back unchanged
# every half second, so every renewal a holds finds it changed. Dropped,
# a renewal is made again FLEET_RENEW_SECONDS (10 s) later, not at the
# next tick (250 ms): whoever touches the key never makes an issuer sign
# and write in a loop. b rotates again meanwhile, so a has to renew.
ENROLMENT=/enrich-test/enrolments/host-b
dropped() { grep -c "Not renewing the fleet enrolment of host host-b" "$TMP/a/enrichd.log"; }
DROPPED=$(dropped)
touch_enrolment() {
        local i v
        for i in $(seq 24); do
                v=$(etcdctl get --print-value-only "$ENROLMENT") && etcdctl put "$ENROLMENT" "$v" >/dev/null
                sleep 0.5
        done
}
touch_enrolment &
TOUCH=$!
CLEANUP_PIDS="$CLEANUP_PIDS $TOUCH"
hctl b keys rotate >"$TMP/rotate2.out" 2>&1 || show "$TMP/rotate2.out"
KID_B3=$(current_kid b)
wait "$TOUCH"
spaced() { [ $(($(dropped) - DROPPED)) -ge 1 ] && [ $(($(dropped) - DROPPED)) -le 2 ]; }
check fleet-renewal-race-touched-spaced spaced || echo "# $(($(dropped) - DROPPED)) renewals dropped in about 12 s"
# left alone, the next renewal lands, listing b's newest key
renewed() {
        $FLEET_TOOL payload "$(etcdctl get --print-value-only "$ENROLMENT")" | grep -q '"by": *"renewal"' &&
                $FLEET_TOOL payload "$(etcdctl get --print-value-only "$ENROLMENT")" | grep -q "$KID_B3"
}
check fleet-renewal-race-renewed-once-left poll 150 renewed || show "$TMP/a/enrichd.log"

# b rotates again, and its enrolment is deleted (an admin taking it out of
# the fleet) while a holds the renewal: the renewal does not put it back,
# and the journal says it was deleted, not that a newer one stands
HELD=$(grep -c "Test hook: writing the signed record $ENROLMENT" "$TMP/a/enrichd.log")
hctl b keys rotate >"$TMP/rotate3.out" 2>&1 || show "$TMP/rotate3.out"
held_again() { [ "$(grep -c "Test hook: writing the signed record $ENROLMENT" "$TMP/a/enrichd.log")" -gt "$HELD" ]; }
check fleet-renewal-race-deleted-held poll 50 held_again || show "$TMP/a/enrichd.log"
etcdctl del "$ENROLMENT" >/dev/null
deleted_logged() { host_log_has a "Not renewing the fleet enrolment of host host-b: it was deleted in etcd since"; }
check fleet-renewal-race-deleted-not-written poll 50 deleted_logged || show "$TMP/a/enrichd.log"
still_deleted() { sleep 1; [ -z "$(etcdctl get --print-value-only "$ENROLMENT")" ]; }
check fleet-renewal-race-deleted-stays still_deleted || etcdctl get --print-value-only "$ENROLMENT" | sed 's/^/#   /'
host_stop a
host_stop b
exit "$FAILED"
