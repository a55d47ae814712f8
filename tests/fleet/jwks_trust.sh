[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# jwks_trust.sh: enrichctl fleet jwks takes a host's key only when a fleet
# issuer vouched for it (issue 16: etcd is trusted for availability, never
# for privilege). Host "a" is the issuer, "b" is not. A presence record
# anyone can put into etcd adds no key; an enrolment signed by a non-issuer
# or naming another host is ignored; fleet enroll --key refuses a
# thumbprint the host does not publish, or a key etcd swapped in; once
# enrolled, b's claims verify against the fleet JWKS with PyJWT; a normal
# rotation's key stands at once (endorsed by the old key) and the issuer
# renews b's enrolment; a --compromised rotation's key waits for a new
# enrolment; with no issuer running, a second rotation's key waits too.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-trust-start fleet-trust-unenrolled-left-out fleet-trust-unenrolled-reported
fleet-trust-foreign-presence-left-out fleet-trust-foreign-presence-reported-json fleet-trust-left-out-kid-no-controls fleet-trust-left-out-named-to-admins-only fleet-trust-wrong-thumbprint-refused
fleet-trust-swapped-key-refused fleet-trust-non-issuer-cannot-enrol fleet-trust-enrolled-key-listed
fleet-trust-token-verifies fleet-trust-enrolment-audited fleet-trust-rogue-enrolment-ignored fleet-trust-other-host-enrolment-ignored
fleet-trust-rotated-key-endorsed fleet-trust-enrolment-renewed fleet-trust-two-quick-rotations-with-issuer fleet-trust-compromised-key-left-out
fleet-trust-compromised-key-after-enrol fleet-trust-reenrol-drops-what-the-leaked-key-vouched-for
fleet-trust-second-rotation-without-issuer-left-out
fleet-trust-first-rotation-without-issuer-listed fleet-trust-kids-distinct"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }

fleet_pair || exit 1
started() { host_start a && host_start b && poll 50 pair_listed; }
check fleet-trust-start started || { show "$TMP/a/enrichd.log"; show "$TMP/b/enrichd.log"; exit 1; }

kid_of() { $PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["keys"][0]["kid"])' "$1"; }
# in_jwks ON KID: host ON's fleet jwks lists KID.
not_in_jwks() { hctl "$1" fleet jwks >"$TMP/jwks.out" 2>"$TMP/jwks.err" && ! grep -q "\"kid\": \"$2\"" "$TMP/jwks.out"; }
KID_B=$(current_kid b)
KID_ROGUE=$(kid_of "$TMP/rogue.jwks")

# --- before any enrolment: b's key is no part of the fleet JWKS, and says so
check fleet-trust-unenrolled-left-out not_in_jwks a "$KID_B" || show "$TMP/jwks.out"
reported() { grep -q "left out of the fleet JWKS: host host-b key $KID_B: the host has no valid enrolment" "$TMP/jwks.err"; }
check fleet-trust-unenrolled-reported reported || show "$TMP/jwks.err"

# --- a presence record put straight into etcd adds nothing
$FLEET_TOOL presence evil "$TMP/rogue.jwks" | etcdctl put /enrich-test/hosts/evil >/dev/null
evil_seen() { hctl a fleet hosts 2>/dev/null | grep -q evil; }
evil_left_out() { poll 50 evil_seen && not_in_jwks a "$KID_ROGUE"; }
check fleet-trust-foreign-presence-left-out evil_left_out || show "$TMP/jwks.out"
reported_json() {
        hctl a fleet jwks --json >"$TMP/jwks.json" 2>&1 && $PY -c 'import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if {"hostId": "evil", "kid": sys.argv[2]} in [{"hostId": l["hostId"], "kid": l["kid"]} for l in j["leftOut"]]
         and sys.argv[2] not in [k["kid"] for k in j["keys"]] else 1)' "$TMP/jwks.json" "$KID_ROGUE"
}
check fleet-trust-foreign-presence-reported-json reported_json || show "$TMP/jwks.json"
# a kid is whatever etcd holds: one with terminal controls is not printed
$PY -c 'import json; print(json.dumps({"hostId": "esc", "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519",
        "x": "AAAA", "kid": "\u001b]0;pwned\u0007\u001b[2J"}]}}))' | etcdctl put /enrich-test/hosts/esc >/dev/null
esc_seen() { hctl a fleet hosts 2>/dev/null | grep -q esc; }
no_controls() {
        poll 50 esc_seen && hctl a fleet jwks >/dev/null 2>"$TMP/esc.err" && grep -q "host esc key (not shown" "$TMP/esc.err" &&
                ! grep -q "$(printf '\033')" "$TMP/esc.err"
}
check fleet-trust-left-out-kid-no-controls no_controls || cat -v "$TMP/esc.err"
etcdctl del /enrich-test/hosts/esc >/dev/null
# host ids are for admins (fleet hosts is admin-only): a user hears how many
user_count_only() {
        as_user "$U1" "$ENRICHCTL" --socket "$TMP/a/io.enrich" fleet jwks >/dev/null 2>"$TMP/user.err"
        grep -q "keys left out of the fleet JWKS (an admin" "$TMP/user.err" && ! grep -q evil "$TMP/user.err"
}
check fleet-trust-left-out-named-to-admins-only user_count_only || show "$TMP/user.err"

# --- fleet enroll --key: a thumbprint b does not publish, or a key whose
# x is not the thumbprint's (etcd swapped it), is refused
wrong() {
        ! hctl a fleet enroll host-b --key "$KID_ROGUE" >"$TMP/wrong.out" 2>&1 &&
                grep -q "presence record has no key $KID_ROGUE" "$TMP/wrong.out"
}
check fleet-trust-wrong-thumbprint-refused wrong || show "$TMP/wrong.out"
$PY -c 'import json, sys
k = json.load(open(sys.argv[1]))["keys"][0]
k["kid"] = sys.argv[2]
json.dump({"keys": [k]}, open(sys.argv[3], "w"))' "$TMP/rogue.jwks" "$KID_B" "$TMP/swapped.jwks"
$FLEET_TOOL presence swap "$TMP/swapped.jwks" | etcdctl put /enrich-test/hosts/swap >/dev/null
swap_seen() { hctl a fleet hosts 2>/dev/null | grep -q swap; }
poll 50 swap_seen
swapped() {
        ! hctl a fleet enroll swap --key "$KID_B" >"$TMP/swap.out" 2>&1 &&
                grep -q "does not have that RFC 7638 thumbprint" "$TMP/swap.out" &&
                ! etcdctl get /enrich-test/enrolments/swap | grep -q .
}
check fleet-trust-swapped-key-refused swapped || show "$TMP/swap.out"
non_issuer() { ! hctl b fleet enroll host-b --key "$KID_B" >"$TMP/nonissuer.out" 2>&1 && grep -q "not a fleet issuer" "$TMP/nonissuer.out"; }
check fleet-trust-non-issuer-cannot-enrol non_issuer || show "$TMP/nonissuer.out"

# --- enrolled: b's key is in the fleet JWKS, and b's claims verify with it
hctl a fleet enroll host-b --key "$KID_B" >"$TMP/enrol.out" 2>&1 || show "$TMP/enrol.out"
check fleet-trust-enrolled-key-listed poll 50 in_jwks a "$KID_B" || { show "$TMP/jwks.out"; show "$TMP/a/enrichd.log"; }
use_host b
session_open s1 "$U1" || { fail fleet-session; exit 1; }
verifies() {
        hctl a fleet jwks >"$TMP/fleet.jwks" 2>/dev/null && keyctl pipe "$(session_serial s1)" >"$TMP/token" &&
                $FLEET_TOOL verify "$(cat "$TMP/token")" "$TMP/fleet.jwks"
}
check fleet-trust-token-verifies verifies || show "$TMP/fleet.jwks"
audited() { hctl a --json audit --action fleet.enrolled | grep -A2 '"kids"' | grep -q "\"$KID_B\""; }
check fleet-trust-enrolment-audited audited
session_close s1

# --- enrolments signed by a non-issuer, or naming another host, are ignored
etcdctl put /enrich-test/enrolments/evil "$(signed "$TMP/rogue.pem" "$($FLEET_TOOL enrolment evil "$TMP/rogue.jwks")")" >/dev/null
rogue_logged() { host_log_has a "Ignoring fleet record /enrich-test/enrolments/evil: signed by a key that is not in fleet.issuers"; }
rogue_ignored() { poll 50 rogue_logged && not_in_jwks a "$KID_ROGUE"; }
check fleet-trust-rogue-enrolment-ignored rogue_ignored || show "$TMP/jwks.out"
etcdctl put /enrich-test/enrolments/evil "$(signed "$TMP/a.pem" "$($FLEET_TOOL enrolment host-b "$TMP/rogue.jwks")")" >/dev/null
other_logged() { host_log_has a "Ignoring fleet record /enrich-test/enrolments/evil: it names another host id"; }
other_ignored() { poll 50 other_logged && not_in_jwks a "$KID_ROGUE"; }
check fleet-trust-other-host-enrolment-ignored other_ignored || show "$TMP/jwks.out"

# --- a normal rotation: the new key stands at once (endorsed by the
# enrolled one) and the issuer renews b's enrolment to list it
hctl b keys rotate >"$TMP/rotate.out" 2>&1 || show "$TMP/rotate.out"
KID_B2=$(current_kid b)
check fleet-trust-rotated-key-endorsed poll 50 in_jwks a "$KID_B2" || { show "$TMP/jwks.err"; show "$TMP/b/enrichd.log"; }
renewed() {
        etcdctl get --print-value-only /enrich-test/enrolments/host-b >"$TMP/enrolment" &&
                $FLEET_TOOL payload "$(cat "$TMP/enrolment")" | grep -q "\"$KID_B2\""
}
check fleet-trust-enrolment-renewed poll 50 renewed || show "$TMP/a/enrichd.log"
# two rotations in a row while the issuer runs: a renewal landing between
# them carries over when endorsements count from, so the second key
# stands too (through the renewal of the first)
hctl b keys rotate >/dev/null 2>&1 && hctl b keys rotate >"$TMP/rotate-quick.out" 2>&1 || show "$TMP/rotate-quick.out"
KID_BQ=$(current_kid b)
check fleet-trust-two-quick-rotations-with-issuer poll 150 in_jwks a "$KID_BQ" || { show "$TMP/jwks.err"; show "$TMP/a/enrichd.log"; }

# --- a compromised rotation: no endorsement, so the key waits for the admin
bq_enrolled() {
        etcdctl get --print-value-only /enrich-test/enrolments/host-b >"$TMP/enrolment" &&
                $FLEET_TOOL payload "$(cat "$TMP/enrolment")" | grep -q "\"$KID_BQ\""
}
poll 100 bq_enrolled
cp "$TMP/b/state/signing-key.pem" "$TMP/leaked.pem"
hctl b keys rotate --compromised >"$TMP/rotate2.out" 2>&1 || show "$TMP/rotate2.out"
KID_B3=$(current_kid b)
b3_reported() { hctl a fleet jwks 2>&1 >/dev/null | grep -q "host host-b key $KID_B3"; }
b3_left_out() { poll 50 b3_reported && not_in_jwks a "$KID_B3"; }
check fleet-trust-compromised-key-left-out b3_left_out || show "$TMP/jwks.out"
# Whoever holds the leaked key (still in b's enrolment until the admin
# acts) and can write to etcd vouches for a key of their own in b's record.
$FLEET_TOOL keygen "$TMP/mine.pem" "$TMP/mine.jwks"
$FLEET_TOOL public "$TMP/leaked.pem" >"$TMP/leaked.jwks"
KID_MINE=$(kid_of "$TMP/mine.jwks")
etcdctl get --print-value-only /enrich-test/hosts/host-b >"$TMP/presence.json"
$PY -c 'import json, sys
p = json.load(open(sys.argv[1]))
p["jwks"]["keys"] += json.load(open(sys.argv[2]))["keys"] + json.load(open(sys.argv[3]))["keys"]
p.setdefault("endorsements", []).append(sys.argv[4])
print(json.dumps(p))' "$TMP/presence.json" "$TMP/leaked.jwks" "$TMP/mine.jwks" \
        "$($FLEET_TOOL endorse "$TMP/leaked.pem" host-b "$TMP/mine.jwks")" |
        etcdctl put /enrich-test/hosts/host-b >/dev/null
# the window until the admin enrols anew (docs/threat-model.md)
poll 50 in_jwks a "$KID_MINE" && echo "# until the admin enrolled anew, the key the leaked one vouched for stood"
hctl a fleet enroll host-b --key "$KID_B3" >"$TMP/enrol3.out" 2>&1 || show "$TMP/enrol3.out"
check fleet-trust-compromised-key-after-enrol poll 50 in_jwks a "$KID_B3" || show "$TMP/enrol3.out"
mine_gone() { not_in_jwks a "$KID_MINE" && ! grep -q "\"$(kid_of "$TMP/leaked.jwks")\"" "$TMP/jwks.out"; }
check fleet-trust-reenrol-drops-what-the-leaked-key-vouched-for poll 50 mine_gone || show "$TMP/jwks.out"

# --- no issuer running: one rotation stands by its endorsement, the
# next does not (a key that stands by endorsement vouches for nothing)
host_stop a
hctl b keys rotate >"$TMP/rotate3.out" 2>&1 || show "$TMP/rotate3.out"
KID_B4=$(current_kid b)
check fleet-trust-first-rotation-without-issuer-listed poll 50 in_jwks b "$KID_B4" || show "$TMP/b/enrichd.log"
hctl b keys rotate >"$TMP/rotate4.out" 2>&1 || show "$TMP/rotate4.out"
KID_B5=$(current_kid b)
b5_reported() { hctl b fleet jwks 2>&1 >/dev/null | grep -q "host host-b key $KID_B5"; }
b5_left_out() { poll 50 b5_reported && not_in_jwks b "$KID_B5"; }
check fleet-trust-second-rotation-without-issuer-left-out b5_left_out || show "$TMP/jwks.err"
distinct() {
        [ "$(printf '%s\n' "$KID_B" "$KID_B2" "$KID_B3" "$KID_B4" "$KID_B5" | grep -c .)" = 5 ] &&
                [ "$(printf '%s\n' "$KID_B" "$KID_B2" "$KID_B3" "$KID_B4" "$KID_B5" | sort -u | wc -l)" = 5 ]
}
check fleet-trust-kids-distinct distinct
host_stop b
exit "$FAILED"
