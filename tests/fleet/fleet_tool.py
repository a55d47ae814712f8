#!/usr/bin/python3
"""fleet_tool.py: what the fleet tests do outside enrichd, with Debian's
python3-jwt and python3-cryptography:

  keygen PEM JWKS            an Ed25519 key (PEM, 0600) and its public JWKS
                             (kid: RFC 7638 thumbprint, as enrichd's)
  merge OUT JWKS...          one JWKS with the keys of several
  sign PEM JSON              a compact JWS of typ enrich-fleet+jwt over JSON
  grant ID USER SCOPE [EXP]  the JSON of a grant record (expires: EXP or +1h)
  identity USER STATE        the JSON of an identity record
  presence HOST JWKS         the JSON of a presence record hosts/HOST with the
                             keys of JWKS (plain, unsigned, as any etcd writer
                             can put one)
  enrolment HOST JWKS...     the JSON of an enrolment record naming HOST and the
                             keys of the JWKS files
  public PEM                 the public JWKS of a key
  endorse PEM HOST JWKS      an endorsement (typ enrich-endorse+jwt) by the key
                             PEM of the first key of JWKS for HOST
  payload TOKEN              the payload of a compact JWS (unverified)
  verify TOKEN JWKS          verifies a claims token against a JWKS with PyJWT
                             (EdDSA only, audience not checked): exit 0 if good
  free-port                  a loopback TCP port nobody listens on now
  wait-scope SERIAL SCOPE present|absent START_MS TIMEOUT_MS
                             polls the claims key SERIAL (keyctl pipe, every
                             2 ms) until SCOPE is present or absent; prints the
                             milliseconds since START_MS (wall; 0: the wall ms
                             itself); exit 1 past TIMEOUT_MS after START_MS
"""
import base64, hashlib, json, os, socket, sys, time

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

def jwk_of(public_raw):
    x = b64u(public_raw)
    thumb = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    kid = b64u(hashlib.sha256(thumb.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}

def load_key(path):
    from cryptography.hazmat.primitives import serialization
    return serialization.load_pem_private_key(open(path, "rb").read(), password=None)

def public_raw(key):
    from cryptography.hazmat.primitives import serialization
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "keygen":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(args[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, pem)
        os.close(fd)
        json.dump({"keys": [jwk_of(public_raw(key))]}, open(args[1], "w"))
    elif cmd == "merge":
        keys = []
        for path in args[1:]:
            keys += json.load(open(path))["keys"]
        json.dump({"keys": keys}, open(args[0], "w"))
    elif cmd == "sign":
        import jwt
        key = load_key(args[0])
        kid = jwk_of(public_raw(key))["kid"]
        print(jwt.encode(json.loads(args[1]), key, algorithm="EdDSA",
                         headers={"typ": "enrich-fleet+jwt", "kid": kid}))
    elif cmd == "grant":
        now = int(time.time())
        exp = int(args[3]) if len(args) > 3 else now + 3600
        print(json.dumps({"id": args[0], "user": args[1], "groups": [], "scopes": [args[2]], "hosts": [],
                          "reason": "test", "grantedBy": "fleet-test", "created": now, "expires": exp}))
    elif cmd == "identity":
        print(json.dumps({"user": args[0], "state": args[1], "reason": "test", "by": "fleet-test",
                          "at": int(time.time())}))
    elif cmd == "presence":
        keys = json.load(open(args[1]))["keys"]
        print(json.dumps({"hostId": args[0], "hostname": args[0], "version": "0", "labels": [],
                          "jwks": {"keys": keys}, "endorsements": [], "since": int(time.time())}))
    elif cmd == "enrolment":
        keys = [{"kid": k["kid"], "x": k["x"]} for path in args[1:] for k in json.load(open(path))["keys"]]
        print(json.dumps({"hostId": args[0], "keys": keys, "at": int(time.time()), "by": "fleet-test"}))
    elif cmd == "public":
        print(json.dumps({"keys": [jwk_of(public_raw(load_key(args[0])))]}))
    elif cmd == "endorse":
        import jwt
        key = load_key(args[0])
        new = json.load(open(args[2]))["keys"][0]
        print(jwt.encode({"hostId": args[1], "kid": new["kid"], "x": new["x"], "at": int(time.time())}, key,
                         algorithm="EdDSA", headers={"typ": "enrich-endorse+jwt", "kid": jwk_of(public_raw(key))["kid"]}))
    elif cmd == "payload":
        p = args[0].strip().split(".")[1]
        print(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode())
    elif cmd == "verify":
        import jwt
        keys = jwt.PyJWKSet.from_dict(json.load(open(args[1])))
        kid = jwt.get_unverified_header(args[0])["kid"]
        key = next(k for k in keys.keys if k.key_id == kid)
        jwt.decode(args[0], key.key, algorithms=["EdDSA"], options={"verify_aud": False})
    elif cmd == "free-port":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
        s.close()
    elif cmd == "wait-scope":
        import subprocess
        serial, scope, want, start, timeout = args[0], args[1], args[2] == "present", int(args[3]), int(args[4])
        while True:
            now = time.time() * 1000
            if now - start > timeout and (start or now > timeout):
                sys.exit(1)
            out = subprocess.run(["keyctl", "pipe", serial], capture_output=True).stdout.decode()
            if out.count(".") == 2:
                p = out.split(".")[1]
                c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
                if (scope in (c.get("scope") or "").split()) == want:
                    print(int(time.time() * 1000 - start))
                    return
            time.sleep(0.002)
    else:
        sys.exit("unknown command " + cmd)

main()
