[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# enrol_replay.sh: an etcd writer without an issuer key cannot roll a
# host's enrolment back (issue 16: etcd is trusted for availability, never
# for privilege). Host "a" is the issuer, "b" is not. b's first key leaks;
# b rotates --compromised and the admin enrols the new key. Whoever holds
# the leaked key and can write to etcd puts b's first enrolment (signed by
# the issuer, copied from etcd) back, and a presence record listing the
# leaked key: every host refuses the older enrolment, also after deleting
# the newer one first, and the leaked key stays out of the fleet JWKS
# (b's keys leave it too, denial of service only, until an admin enrols anew),
# also on a host restarted meanwhile; so is an issuer's renewal made from
# the enrolment the admin's replaced (a race of the two), which carries
# the older endorsedSince.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-replay-start fleet-replay-enrolled fleet-replay-reenrolled fleet-replay-old-enrolment-refused
fleet-replay-leaked-key-left-out fleet-replay-after-delete-refused fleet-replay-after-delete-left-out fleet-replay-enrol-again fleet-replay-stale-renewal-refused fleet-replay-stale-renewal-left-out fleet-replay-after-restart-refused fleet-replay-after-restart-left-out"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }

fleet_pair || exit 1
started() { host_start a && host_start b && poll 50 pair_listed; }
check fleet-replay-start started || { show "$TMP/a/enrichd.log"; show "$TMP/b/enrichd.log"; exit 1; }

neither_in_jwks() { ! in_jwks a "$1" && ! in_jwks b "$1"; }
KID_B=$(current_kid b)

hctl a fleet enroll host-b --key "$KID_B" >"$TMP/enrol.out" 2>&1 || show "$TMP/enrol.out"
check fleet-replay-enrolled poll 50 both_in_jwks "$KID_B" || show "$TMP/a/enrichd.log"
etcdctl get --print-value-only /enrich-test/enrolments/host-b >"$TMP/old-enrolment"
cp "$TMP/b/state/signing-key.pem" "$TMP/leaked.pem"
$FLEET_TOOL public "$TMP/leaked.pem" >"$TMP/leaked.jwks"

# the leak is noticed: a compromised rotation, and the admin enrols anew
# (within the same second, as like as not: the issuer signs it a second
# later than the one it replaces all the same)
hctl b keys rotate --compromised >"$TMP/rotate.out" 2>&1 || show "$TMP/rotate.out"
KID_B2=$(current_kid b)
hctl a fleet enroll host-b --key "$KID_B2" >"$TMP/enrol2.out" 2>&1 || show "$TMP/enrol2.out"
reenrolled() { both_in_jwks "$KID_B2" && neither_in_jwks "$KID_B"; }
check fleet-replay-reenrolled poll 50 reenrolled || show "$TMP/a/enrichd.log"

# put_leaked: a presence record of b listing the leaked key beside b's own
put_leaked() {
        etcdctl get --print-value-only /enrich-test/hosts/host-b >"$TMP/presence.json"
        $PY -c 'import json, sys
p = json.load(open(sys.argv[1]))
p["jwks"]["keys"] += json.load(open(sys.argv[2]))["keys"]
print(json.dumps(p))' "$TMP/presence.json" "$TMP/leaked.jwks" | etcdctl put /enrich-test/hosts/host-b >/dev/null
}
put_leaked
etcdctl put /enrich-test/enrolments/host-b "$(cat "$TMP/old-enrolment")" >/dev/null
refused() { host_log_has a "Ignoring fleet record /enrich-test/enrolments/host-b: it is older than" &&
        host_log_has b "Ignoring fleet record /enrich-test/enrolments/host-b: it is older than"; }
check fleet-replay-old-enrolment-refused poll 50 refused || { show "$TMP/a/enrichd.log"; }
left_out() { sleep 1; neither_in_jwks "$KID_B"; }
check fleet-replay-leaked-key-left-out left_out || hctl a fleet jwks

# deleting the enrolment first (b's keys leave the fleet JWKS: denial of
# service only) does not make the older one acceptable
etcdctl del /enrich-test/enrolments/host-b >/dev/null
sleep 0.5
put_leaked
etcdctl put /enrich-test/enrolments/host-b "$(cat "$TMP/old-enrolment")" >/dev/null
refused_twice() { [ "$(grep -c "Ignoring fleet record /enrich-test/enrolments/host-b: it is older than" "$TMP/a/enrichd.log")" -ge 2 ]; }
check fleet-replay-after-delete-refused poll 50 refused_twice || show "$TMP/a/enrichd.log"
check fleet-replay-after-delete-left-out left_out || hctl a fleet jwks
hctl a fleet enroll host-b --key "$KID_B2" >"$TMP/enrol3.out" 2>&1 || show "$TMP/enrol3.out"
again() { both_in_jwks "$KID_B2" && neither_in_jwks "$KID_B"; }
check fleet-replay-enrol-again poll 50 again || show "$TMP/a/enrichd.log"

# an issuer renewing b from the enrolment before the admin's (it had not
# seen it yet) signs a newer "at" with the older endorsedSince, listing the
# key the leaked one vouched for: refused (simulated: signed here with the
# issuer's key, as enrichd's renewal would)
OLD_SINCE=$($FLEET_TOOL payload "$(cat "$TMP/old-enrolment")" | $PY -c 'import json, sys
p = json.load(sys.stdin); print(p.get("endorsedSince", p["at"]))')
STALE=$($FLEET_TOOL enrolment host-b "$TMP/leaked.jwks" | $PY -c 'import json, sys, time
p = json.load(sys.stdin); p["at"] = int(time.time()) + 5; p["endorsedSince"] = int(sys.argv[1]); p["by"] = "renewal"
print(json.dumps(p))' "$OLD_SINCE")
put_leaked
etcdctl put /enrich-test/enrolments/host-b "$(signed "$TMP/a.pem" "$STALE")" >/dev/null
stale_refused() { host_log_has a "enrolments/host-b: .*renewed from a superseded one" &&
        [ "$(grep -c "Ignoring fleet record /enrich-test/enrolments/host-b: it is older than" "$TMP/a/enrichd.log")" -ge 3 ]; }
check fleet-replay-stale-renewal-refused poll 50 stale_refused || show "$TMP/a/enrichd.log"
check fleet-replay-stale-renewal-left-out left_out || hctl a fleet jwks

# b restarts while etcd holds the older enrolment: it remembers the newer
b_refusals() { grep -c "Ignoring fleet record /enrich-test/enrolments/host-b: it is older than" "$TMP/b/enrichd.log"; }
host_stop b
BEFORE=$(b_refusals)
etcdctl put /enrich-test/enrolments/host-b "$(cat "$TMP/old-enrolment")" >/dev/null
host_start b || { fail fleet-replay-restart; exit 1; }
poll 50 pair_listed
put_leaked
restart_refused() { [ "$(b_refusals)" -gt "$BEFORE" ]; }
check fleet-replay-after-restart-refused poll 50 restart_refused || show "$TMP/b/enrichd.log"
b_left_out() { sleep 1; ! in_jwks b "$KID_B"; }
check fleet-replay-after-restart-left-out b_left_out || hctl b fleet jwks
host_stop a
host_stop b
exit "$FAILED"
