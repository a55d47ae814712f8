[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# keys.sh: signing key rotation against a real enrichd, real PAM sessions
# and PyJWT (python3-jwt) as the independent verifier. After `enrichctl
# keys rotate` new tokens carry the new kid, a token the old key signed
# still verifies until max_ttl has passed, then the old key leaves the
# JWKS on its own; a restart keeps all of it; audit checkpoints signed by
# the old key keep verifying even after it left the JWKS. A start finishes
# a rotation a crash interrupted after recording it, and drops a new key
# that was never recorded (both set up by hand with openssl and sqlite3).
# With --compromised the old key leaves at once and live keys are
# re-issued in place under the new one. Only admins may rotate.
. "$(dirname "$0")/lib.sh"

CHECKS="keys-list-one-signing keys-list-as-user keys-rotate-nonadmin-refused keys-rotate-says-kids
keys-jwks-has-both keys-old-token-verifies-pyjwt keys-new-session-new-kid keys-new-token-verifies-pyjwt
keys-status-new-kid keys-file-0600-no-leftover keys-list-shows-published keys-audit-row
keys-audit-verify-after-rotation daemon-clean-shutdown keys-restart-keeps-new-key keys-restart-jwks-keeps-old
daemon-clean-shutdown keys-start-drops-unrecorded-next daemon-clean-shutdown keys-start-finishes-recorded-rotation
keys-start-finished-publishes-both keys-start-finished-logged keys-old-key-leaves-after-max-ttl keys-list-shows-retired keys-audit-verify-after-old-key-left
keys-compromised-old-leaves-at-once keys-compromised-session-reissued keys-compromised-same-serial
keys-compromised-reissued-verifies keys-unknown-subcommand keys-compromised-needs-rotate daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
MAX_TTL=20
enrich_write_config <<EOF
claims_ttl = 20;
max_ttl = $MAX_TTL;
rules = (
  { name = "base";
    match = { services = ["enrich-test"]; };
    grant = { scopes = ["base:read"]; };
  }
);
EOF
enrich_start_daemon || { fail daemon-starts "enrichd did not start"; exit 1; }

# kid_of SERIAL: the kid in the header of the key's token.
kid_of() {
        keyctl pipe "$1" 2>/dev/null | "$PY" -c 'import base64, json, sys
h = sys.stdin.read().split(".")[0]
print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["kid"])'
}
# jwks_kids: the kids the published JWKS holds, space-separated.
jwks_kids() { "$PY" -c 'import json, sys; print(" ".join(k["kid"] for k in json.load(open(sys.argv[1]))["keys"]))' "$JWKS"; }
status_kid() { ctl --json status | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["kid"])'; }
# key_field KID FIELD: one field of that key in `enrichctl keys --json`.
key_field() {
        ctl --json keys | "$PY" -c 'import json, sys
for k in json.load(sys.stdin)["keys"]:
    if k["kid"] == sys.argv[1]:
        print(k.get(sys.argv[2], ""))' "$1" "$2"
}
pyjwt() { keyctl pipe "$1" >"$TMP/$2.jwt" 2>/dev/null && "$PY" "$HERE/pyjwt_verify.py" "$JWKS" "$TMP/$2.jwt" >"$TMP/$2.pyjwt" 2>&1; }

K1=$(status_kid)
list_one() { [ "$(ctl --json keys | "$PY" -c 'import json, sys; print(len(json.load(sys.stdin)["keys"]))')" = 1 ] &&
                     [ "$(key_field "$K1" state)" = signing ] && [ "$(jwks_kids)" = "$K1" ]; }
check keys-list-one-signing list_one || ctl keys | sed 's/^/# /'
check keys-list-as-user eval 'ctl_as "$U1" keys | grep -qF -- "$K1"'

session_open s1 "$U1"
S1=$(session_serial s1)
keyctl pipe "$S1" >"$TMP/s1.jwt" 2>/dev/null    # signed by the old key, valid 20 s
ctl audit checkpoint >/dev/null       # a checkpoint the old key signs

refused() { ctl_as "$U1" keys rotate >"$TMP/rotate-user.out" 2>&1; [ $? = 1 ] && [ "$(status_kid)" = "$K1" ]; }
check keys-rotate-nonadmin-refused refused || show "$TMP/rotate-user.out"

T_BEFORE=$(date +%s)
ctl keys rotate >"$TMP/rotate.out" 2>&1
T_AFTER=$(date +%s)
K2=$(status_kid)
says() { [ -n "$K2" ] && [ "$K2" != "$K1" ] && grep -q "signing key $K2 replaces $K1" "$TMP/rotate.out"; }
check keys-rotate-says-kids says || show "$TMP/rotate.out"
check_eq keys-jwks-has-both "$K2 $K1" "$(jwks_kids)"
old_verifies() {
        "$PY" "$HERE/pyjwt_verify.py" "$JWKS" "$TMP/s1.jwt" >"$TMP/s1.pyjwt" 2>&1 &&
                [ "$(cut -d. -f1 "$TMP/s1.jwt" | "$PY" -c 'import base64, json, sys
h = sys.stdin.read().strip()
print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["kid"])')" = "$K1" ]
}
check keys-old-token-verifies-pyjwt old_verifies || show "$TMP/s1.pyjwt"

session_open s2 "$U1"
S2=$(session_serial s2)
check_eq keys-new-session-new-kid "$K2" "$(kid_of "$S2")"
check keys-new-token-verifies-pyjwt pyjwt "$S2" s2 || show "$TMP/s2.pyjwt"
status_current() { [ "$K2" != "$K1" ] && [ "$(status_kid)" = "$(jwks_kids | cut -d" " -f1)" ]; }
check keys-status-new-kid status_current
key_file() { [ "$(stat -c %a "$TMP/state/signing-key.pem")" = 600 ] && ! ls "$TMP/state" | grep -q '\.next'; }
check keys-file-0600-no-leftover key_file || ls -l "$TMP/state" | sed 's/^/# /'
UNTIL=$(key_field "$K1" publishedUntil)
published() {
        [ "$(key_field "$K1" state)" = published ] && [ "$(key_field "$K2" state)" = signing ] &&
                [ "$UNTIL" -ge $((T_BEFORE + MAX_TTL)) ] && [ "$UNTIL" -le $((T_AFTER + MAX_TTL)) ]
}
check keys-list-shows-published published || ctl keys | sed 's/^/# /'
audit_row() { ctl --json audit --action key.rotated | grep -q "\"previousKid\": \"$K1\""; }
check keys-audit-row audit_row || ctl --json audit --action key.rotated | sed 's/^/# /'
check keys-audit-verify-after-rotation eval 'ctl audit checkpoint >/dev/null && ctl audit verify >"$TMP/verify1.out"' ||
        show "$TMP/verify1.out"
session_close s1
session_close s2

# --- a restart keeps the new key and the old one's publication
enrich_stop_daemon
enrich_start_daemon || { fail daemon-restarts "enrichd did not restart"; exit 1; }
check_eq keys-restart-keeps-new-key "$K2" "$(status_kid)"
check_eq keys-restart-jwks-keeps-old "$K2 $K1" "$(jwks_kids)"

# --- start-up repairs what a crash in the middle of a rotation left
# new_key FILE: an Ed25519 key at FILE (0600); prints its kid and JWK.
new_key() {
        openssl genpkey -algorithm ed25519 -out "$1" 2>/dev/null && chmod 0600 "$1" &&
                "$PY" -c 'import base64, hashlib, json, sys
from cryptography.hazmat.primitives import serialization
key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
x = b64(raw)
kid = b64(hashlib.sha256(json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":")).encode()).digest())
print(kid, json.dumps({"alg": "EdDSA", "crv": "Ed25519", "kid": kid, "kty": "OKP", "use": "sig", "x": x}, separators=(",", ":")))' "$1"
}
NEXT=$TMP/state/signing-key.pem.next
enrich_stop_daemon
new_key "$NEXT" >/dev/null
enrich_start_daemon || { fail daemon-restarts "enrichd did not restart"; exit 1; }
dropped() { [ "$(status_kid)" = "$K2" ] && [ ! -e "$NEXT" ]; }
check keys-start-drops-unrecorded-next dropped || ls -l "$TMP/state" | sed 's/^/# /'
# A rotation recorded (the point of no return) but not yet renamed.
enrich_stop_daemon
read -r KN JWKN <<<"$(new_key "$NEXT")"
NOW=$(date +%s)
sqlite3 -cmd ".timeout 5000" "$TMP/state/enrich.db" "INSERT INTO signing_keys (kid, jwk, created) VALUES ('$KN', '$JWKN', $NOW);
        UPDATE signing_keys SET retired = $NOW, published_until = $((NOW + MAX_TTL)) WHERE kid = '$K2';"
enrich_start_daemon || { fail daemon-restarts "enrichd did not restart"; exit 1; }
finished() { [ -n "$KN" ] && [ "$(status_kid)" = "$KN" ] && [ ! -e "$NEXT" ]; }
check keys-start-finishes-recorded-rotation finished || { echo "# kid $(status_kid), expected $KN"; ls -l "$TMP/state" | sed 's/^/# /'; }
check_eq keys-start-finished-publishes-both "$KN $K2 $K1" "$(jwks_kids)"
check keys-start-finished-logged grep -q "Finished a key rotation a crash interrupted: $KN replaces $K2" "$TMP/enrichd.log"

# --- the old key leaves the JWKS by itself once its tokens are all expired
gone() { ! jwks_kids | grep -qw -- "$K1"; }
wait_s=$((UNTIL - $(date +%s) + 3))
# At least 5 s: the restarts above (ASan, a loaded machine) may already
# have used up the time to UNTIL, and the tick that drops the key still
# needs a moment.
[ "$wait_s" -ge 5 ] || wait_s=5
check keys-old-key-leaves-after-max-ttl poll $((wait_s * 10)) gone || echo "# JWKS: $(jwks_kids)"
check_eq keys-list-shows-retired retired "$(key_field "$K1" state)"
check keys-audit-verify-after-old-key-left eval 'ctl audit verify >"$TMP/verify2.out"' || show "$TMP/verify2.out"

# --- compromised: the old key leaves at once, live keys follow in place
session_open s3 "$U1"
S3=$(session_serial s3)
ctl keys rotate --compromised >"$TMP/compromised.out" 2>&1
K3=$(status_kid)
left_at_once() { [ "$(jwks_kids | cut -d" " -f1)" = "$K3" ] && ! jwks_kids | grep -qw -- "$KN"; }
check keys-compromised-old-leaves-at-once left_at_once || echo "# JWKS: $(jwks_kids)"
reissued() { grep -qF -- "$KN left the JWKS; 1 live session(s) re-issued, 0 revoked" "$TMP/compromised.out"; }
check keys-compromised-session-reissued reissued || show "$TMP/compromised.out"
check_eq keys-compromised-same-serial "$K3" "$(kid_of "$S3")"
check keys-compromised-reissued-verifies pyjwt "$S3" s3 || show "$TMP/s3.pyjwt"
session_close s3

usage() { ctl keys spin >/dev/null 2>&1; [ $? = 2 ]; }
check keys-unknown-subcommand usage
needs_rotate() { ctl keys --compromised >/dev/null 2>&1; [ $? = 2 ] && [ "$(status_kid)" = "$K3" ]; }
check keys-compromised-needs-rotate needs_rotate

enrich_finish
