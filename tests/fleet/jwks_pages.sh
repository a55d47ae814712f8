[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# jwks_pages.sh: the fleet JWKS of a large fleet passes one 64 KiB reply
# (about 150 bytes a key), and so does the host listing: FleetJwks and
# FleetHosts answer in pages, and enrichctl prints one JWKS, one listing.
# 300 hosts are enrolled (signed by the issuer key a.pem) with 2 keys
# each, and one key is enrolled for two hosts at either end of the id
# order (two pages): fleet jwks holds every enrolled key exactly once
# (more than one reply's worth), nothing else, and counts the keys left
# out on every page (host-b's own, one of an unenrolled host).
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-pages-setup fleet-pages-hosts-listed fleet-pages-jwks-every-key-once fleet-pages-jwks-json
fleet-pages-left-out-counted"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_keys || exit 1
fleet_host b host-b '"web"'
check fleet-pages-setup host_start b || exit 1

# put_enrolled ISSUER_PEM EXPECTED: through etcd's gateway, presence
# records and issuer-signed enrolments of h0001.example..h0300.example
# (host ids with dots, as a cursor carries them; 2 fresh keys
# each), of aaa-dup and zzz-dup (one key, the same), and a presence
# record of unenrolled (1 key); the kids the fleet JWKS must hold, one a
# line, into EXPECTED.
put_enrolled() {
        $PY - "$ETCD_ENDPOINT" "$1" "$2" <<'PYEOF'
import base64, hashlib, json, sys, time, urllib.request
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
url, issuer_path, expected = sys.argv[1:4]
def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
def jwk():
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                 serialization.PublicFormat.Raw)
    x = b64u(raw)
    thumb = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": b64u(hashlib.sha256(thumb.encode()).digest()),
            "alg": "EdDSA", "use": "sig"}
issuer = serialization.load_pem_private_key(open(issuer_path, "rb").read(), password=None)
issuer_kid = json.load(open(issuer_path.replace(".pem", ".jwks")))["keys"][0]["kid"]
def put(key, value):
    body = json.dumps({"key": base64.b64encode(("/enrich-test/" + key).encode()).decode(),
                       "value": base64.b64encode(value.encode()).decode()}).encode()
    urllib.request.urlopen(urllib.request.Request(url + "/v3/kv/put", body), timeout=10).read()
def host(name, keys, enrol=True):
    put("hosts/" + name, json.dumps({"hostId": name, "hostname": name, "version": "0", "labels": [],
                                     "jwks": {"keys": keys}, "endorsements": [], "since": int(time.time())}))
    if enrol:
        payload = {"hostId": name, "keys": [{"kid": k["kid"], "x": k["x"]} for k in keys], "at": int(time.time()),
                   "by": "fleet-test"}
        put("enrolments/" + name, jwt.encode(payload, issuer, algorithm="EdDSA",
                                             headers={"typ": "enrich-fleet+jwt", "kid": issuer_kid}))
kids = []
for i in range(1, 301):
    keys = [jwk(), jwk()]
    host("h%04d.example" % i, keys)
    kids += [k["kid"] for k in keys]
shared = jwk()
host("aaa-dup", [shared])
host("zzz-dup", [shared])
kids.append(shared["kid"])
host("unenrolled", [jwk()], enrol=False)
open(expected, "w").write("\n".join(kids) + "\n")
PYEOF
}
put_enrolled "$TMP/a.pem" "$TMP/expected" || fail fleet-pages-put
# 300 + 2 + 1 records and b itself
hosts_count() { hctl b fleet hosts --json 2>/dev/null | $PY -c 'import json, sys; print(len(json.load(sys.stdin)["hosts"]))'; }
all_listed() { [ "$(hosts_count)" = 304 ]; }
check fleet-pages-hosts-listed poll 100 all_listed || { hctl b fleet hosts --json 2>&1 | tail -3; show "$TMP/b/enrichd.log"; }

# every_key_once FILE: FILE's JWKS holds each expected kid once, and no
# other; and more than one 64 KiB reply could carry.
every_key_once() {
        $PY - "$1" "$TMP/expected" <<'PYEOF'
import collections, json, sys
jwks = json.load(open(sys.argv[1]))
want = open(sys.argv[2]).read().split()
got = collections.Counter(k["kid"] for k in jwks["keys"])
twice = [k for k, n in got.items() if n > 1]
missing = set(want) - set(got)
extra = set(got) - set(want)
size = len(json.dumps({"keys": jwks["keys"]}, separators=(",", ":")))
print("# %d keys (%d bytes compact): %d wanted, %d missing, %d extra, %d more than once" %
      (len(jwks["keys"]), size, len(want), len(missing), len(extra), len(twice)))
sys.exit(0 if not twice and not missing and not extra and size > 65536 else 1)
PYEOF
}
enrolled_read() { hctl b fleet jwks >"$TMP/jwks.out" 2>"$TMP/jwks.err" && every_key_once "$TMP/jwks.out" >/dev/null; }
poll 100 enrolled_read
hctl b fleet jwks >"$TMP/jwks.out" 2>"$TMP/jwks.err"
check fleet-pages-jwks-every-key-once every_key_once "$TMP/jwks.out" || { tail -3 "$TMP/jwks.err"; show "$TMP/b/enrichd.log"; }

# --json: the same keys, and both left-out keys named in leftOut
json_ok() {
        hctl b fleet jwks --json >"$TMP/jwks.json" 2>&1 && every_key_once "$TMP/jwks.json" >/dev/null &&
                $PY -c 'import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if sorted(k["hostId"] for k in j["leftOut"]) == ["host-b", "unenrolled"] else 1)' "$TMP/jwks.json"
}
check fleet-pages-jwks-json json_ok || tail -c 600 "$TMP/jwks.json"

# a user: the same JWKS, the left-out keys of every page counted
user_counted() {
        as_user "$U1" "$ENRICHCTL" --socket "$TMP/b/io.enrich" fleet jwks >"$TMP/user.out" 2>"$TMP/user.err" &&
                every_key_once "$TMP/user.out" >/dev/null &&
                grep -q "^enrichctl: 2 keys left out of the fleet JWKS (an admin's fleet jwks names them)" "$TMP/user.err"
}
check fleet-pages-left-out-counted user_counted || cat "$TMP/user.err"
host_stop b
exit "$FAILED"
