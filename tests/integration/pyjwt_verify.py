#!/usr/bin/python3
"""pyjwt_verify.py: verifies an enrich claims token with PyJWT, an
independent JWT implementation, against the daemon's JWKS, as docs/contract.md says
any JWT library can: EdDSA only, kid from the JWKS, aud = this host's
machine-id, typ "enrich+jwt". Prints the claims as JSON and exits 0, or
prints the reason and exits 1.

usage: pyjwt_verify.py JWKS TOKEN_FILE [--tamper]
--tamper changes one byte of the payload first (a letter of the "sub"
value), so the signature must no longer verify."""
import base64
import json
import re
import sys

import jwt


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url_encode(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def tamper(token):
    header, payload, signature = token.split(".")
    raw = bytearray(b64url_decode(payload))
    m = re.search(rb'"sub"\s*:\s*"', raw)
    if not m:
        raise SystemExit("cannot tamper: no sub claim")
    at = m.end()
    raw[at] = ord("a") if raw[at] != ord("a") else ord("b")
    return ".".join([header, b64url_encode(bytes(raw)), signature])


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        raise SystemExit(__doc__)
    with open(args[0]) as f:
        jwks = jwt.PyJWKSet.from_dict(json.load(f))
    with open(args[1]) as f:
        token = f.read().strip()
    with open("/etc/machine-id") as f:
        machine_id = f.read().strip()
    if "--tamper" in sys.argv:
        token = tamper(token)
    try:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != "enrich+jwt":
            raise ValueError("typ is %r, not enrich+jwt" % header.get("typ"))
        if header.get("alg") != "EdDSA":
            raise ValueError("alg is %r, not EdDSA" % header.get("alg"))
        keys = [k for k in jwks.keys if k.key_id == header.get("kid")]
        if not keys:
            raise ValueError("kid %r is not in the JWKS" % header.get("kid"))
        claims = jwt.decode(token, keys[0].key, algorithms=["EdDSA"], audience=machine_id,
                            options={"require": ["exp", "iat", "nbf", "aud", "sub"]})
    except Exception as e:  # every failure is a verdict here, not a crash
        print("rejected: %s: %s" % (type(e).__name__, e))
        return 1
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
