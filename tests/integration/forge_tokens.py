#!/usr/bin/python3
"""forge_tokens.py: writes a test Ed25519 key's JWKS and a set of claims
tokens for the abuse suite into DIR: one good token (DIR/good) and one file
per forgery, each named for the error a verifier must give. The good token
belongs to UID on this host; ASID, when given, is set in every token
(a verifier in audit session ASID accepts it; "other-asid" gets ASID+1).

usage: forge_tokens.py DIR UID [ASID]"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_x(key):
    return b64(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def kid_of(key):
    text = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": public_x(key)}, separators=(",", ":"))
    return b64(hashlib.sha256(text.encode()).digest())


def part(obj):
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def sign(key, header, payload):
    signing_input = part(header) + "." + part(payload)
    return signing_input + "." + b64(key.sign(signing_input.encode()))


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    out, uid = sys.argv[1], int(sys.argv[2])
    asid = int(sys.argv[3]) if len(sys.argv) == 4 else None
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    kid = kid_of(key)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": public_x(key), "kid": kid, "alg": "EdDSA", "use": "sig"}
    with open(os.path.join(out, "jwks.json"), "w") as f:
        json.dump({"keys": [jwk]}, f)
    now = int(time.time())
    machine_id = open("/etc/machine-id").read().strip()
    claims = {"iss": "enrichd@abuse-test", "sub": "abuse", "uid": uid, "aud": machine_id,
              "iat": now - 10, "nbf": now - 10, "exp": now + 600, "jti": "j1", "sid": "s1",
              "amr": ["pwd"], "groups": ["g-test"], "scope": "s:read", "pv": "0"}
    if asid is not None:
        claims["asid"] = asid
    header = {"alg": "EdDSA", "typ": "enrich+jwt", "kid": kid}
    good = sign(key, header, claims)
    head, body, sig = good.split(".")
    raw_public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    hs_header = {"alg": "HS256", "typ": "enrich+jwt", "kid": kid}
    hs_input = (part(hs_header) + "." + body).encode()
    tokens = {
        "good": good,
        "other-key-same-kid": sign(other, header, claims),
        "other-key-own-kid": sign(other, dict(header, kid=kid_of(other)), claims),
        "alg-none": part({"alg": "none", "typ": "enrich+jwt", "kid": kid}) + "." + body + ".",
        "hs256-public-key": hs_input.decode() + "." + b64(hmac.new(raw_public, hs_input, hashlib.sha256).digest()),
        "hs256-public-jwk": hs_input.decode() + "." + b64(hmac.new(json.dumps(jwk).encode(), hs_input,
                                                                     hashlib.sha256).digest()),
        "expired": sign(key, header, dict(claims, iat=now - 1200, nbf=now - 1200, exp=now - 600)),
        "not-yet-valid": sign(key, header, dict(claims, nbf=now + 600, exp=now + 1200)),
        "other-host": sign(key, header, dict(claims, aud="0123456789abcdef0123456789abcdef")),
        "other-uid": sign(key, header, dict(claims, uid=uid + 1)),
        "truncated-signature": head + "." + body + "." + sig[:-6],
        "padded-signature": good + "==",
        "extended-signature": good + "AAAA",
        "tampered-payload": head + "." + part(dict(claims, scope="s:read admin")) + "." + sig,
    }
    if asid is not None:
        tokens["other-asid"] = sign(key, header, dict(claims, asid=asid + 1))
    for name, token in tokens.items():
        with open(os.path.join(out, name), "w") as f:
            f.write(token)


if __name__ == "__main__":
    main()
