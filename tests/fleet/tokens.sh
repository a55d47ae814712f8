[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# tokens.sh: service-account tokens in etcd. A token issued with --fleet on
# host a (its key the issuer) is written to tokens/<id> signed, on a lease,
# with the SHA-256 of its verifier and never the secret; host b adds it and
# it logs in there through the real PAM module (pam_start_confdir, auth +
# account); `token revoke` on a makes b refuse it within a second; a token
# record signed by a non-issuer key is ignored on b with a journal line.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-token-hosts-start fleet-token-issued fleet-token-key-signed-hashed fleet-token-key-on-lease
fleet-token-reaches-b fleet-token-logs-in-on-b fleet-token-wrong-secret-refused-on-b fleet-token-revoke-within-1s
fleet-token-revoked-on-a fleet-token-rogue-logged fleet-token-rogue-ignored fleet-token-rogue-refused-on-b"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_pair || exit 1
check fleet-token-hosts-start eval 'host_start a && host_start b' || exit 1


TOKEN=$(hctl a token issue "$U1" --ttl 10m --scope fleet:tok --fleet 2>"$TMP/issue.err")
ID=$(printf '%s' "$TOKEN" | cut -c5-20)
SECRET_PART=${TOKEN#enr_*_}
issued() { [ "${TOKEN#enr_}" != "$TOKEN" ] && [ ${#ID} = 16 ]; }
check fleet-token-issued issued || show "$TMP/issue.err"
# The value is a JWS signed by a's key whose payload holds the verifier's
# digest, and neither the secret nor the verifier.
etcdctl get "/enrich-test/tokens/$ID" --print-value-only >"$TMP/record" 2>&1
hashed() {
        $PY - "$TMP/record" "$TMP/a.jwks" "$SECRET_PART" "$ID" <<'EOP'
import base64, json, sys
value = open(sys.argv[1]).read().strip()
header, payload, sig = value.split(".")
d = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
h, p = d(header), d(payload)
kid = json.load(open(sys.argv[2]))["keys"][0]["kid"]
assert h["typ"] == "enrich-fleet+jwt" and h["kid"] == kid, h
assert p["id"] == sys.argv[4] and len(p["verifierSha256"]) == 43, p
assert "verifier" not in p and sys.argv[3] not in value, "secret or verifier in the record"
EOP
}
check fleet-token-key-signed-hashed hashed || show "$TMP/record"
on_lease() {
        etcdctl get "/enrich-test/tokens/$ID" -w json |
                $PY -c 'import json, sys; kv = json.load(sys.stdin)["kvs"][0]; sys.exit(0 if kv.get("lease") else 1)'
}
check fleet-token-key-on-lease on_lease

on_b() { hctl b token list --json 2>/dev/null | grep -q "\"$ID\""; }
check fleet-token-reaches-b poll 30 on_b || show "$TMP/b/enrichd.log"
check fleet-token-logs-in-on-b token_login b login "$TOKEN" || { show "$TMP/login.err"; show "$TMP/b/enrichd.log"; }
WRONG=${TOKEN%?}x
[ "$WRONG" = "$TOKEN" ] && WRONG=${TOKEN%?}y
check fleet-token-wrong-secret-refused-on-b token_refused b wrong "$WRONG"

# --- revoke on a: b refuses the token within a second
T0=$(ms_now)
hctl a token revoke "$ID" >"$TMP/revoke.out" 2>&1
revoked_on_b() { hctl b token list --json 2>/dev/null | grep -A20 "\"$ID\"" | grep -q '"revoked"'; }
# Timed to the start of the look that saw it revoked, not its end (an
# enrichctl run, the test's own time, slow on a loaded machine).
T1=""
for _ in $(seq 30); do
        t=$(ms_now)
        if revoked_on_b; then T1=$t; break; fi
        sleep 0.1
done
REVOKE_MS=$((${T1:-$(ms_now)} - T0))
echo "# fleet token revoke on a -> b refuses it after $REVOKE_MS ms (command included)"
within_1s() { [ "$REVOKE_MS" -lt 1000 ] && token_refused b after-revoke "$TOKEN"; }
check fleet-token-revoke-within-1s within_1s || { show "$TMP/revoke.out"; show "$TMP/after-revoke.err"; show "$TMP/b/enrichd.log"; }
revoked_on_a() { hctl a token list --json | grep -A20 "\"$ID\"" | grep -q '"revoked"'; }
check fleet-token-revoked-on-a revoked_on_a

# --- the same record under a new id, signed by a key that is no issuer
ROGUE_ID=00000000deadbeef
$PY - "$TMP/record" "$ROGUE_ID" >"$TMP/rogue.json" <<'EOP'
import base64, json, sys
payload = sys.argv[1] and open(sys.argv[1]).read().strip().split(".")[1]
p = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
p["id"] = sys.argv[2]
p["expires"] = p["expires"] + 60
print(json.dumps(p))
EOP
etcdctl put "/enrich-test/tokens/$ROGUE_ID" "$(signed "$TMP/rogue.pem" "$(cat "$TMP/rogue.json")")" >/dev/null
check fleet-token-rogue-logged poll 20 host_log_has b \
        "Ignoring fleet record /enrich-test/tokens/$ROGUE_ID: signed by a key that is not in fleet.issuers"
check_not fleet-token-rogue-ignored eval 'hctl b token list --json | grep -q "$ROGUE_ID"'
check fleet-token-rogue-refused-on-b token_refused b rogue "enr_${ROGUE_ID}_$SECRET_PART"
host_stop a
host_stop b
exit "$FAILED"
