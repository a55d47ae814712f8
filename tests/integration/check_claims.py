#!/usr/bin/python3
"""check_claims.py: reads a claims object (JSON) on stdin and checks it
against expectations. Prints every mismatch and exits 1 if there is one.

usage: check_claims.py [--uid N] [--asid N] [--aud A] [--group G]... [--scope S]...
                       [--CLAIM VALUE]...   (any other string claim: sub, tenant, svc, tty, ...)
The object may also be a wrapper with the claims under "claims" (enrichctl
whoami --json may add fields of its own around them)."""
import json
import sys
import time


def main():
    want = {"group": [], "scope": []}
    argv = sys.argv[1:]
    while argv:
        opt, val, argv = argv[0].lstrip("-"), argv[1], argv[2:]
        if opt in ("group", "scope"):
            want[opt].append(val)
        else:
            want[opt] = val
    claims = json.load(sys.stdin)
    if isinstance(claims.get("claims"), dict):
        claims = claims["claims"]
    bad = []

    def expect(name, got, exp):
        if got != exp:
            bad.append("%s is %r, expected %r" % (name, got, exp))

    for name, val in want.items():
        if name in ("uid", "asid"):
            expect(name, claims.get(name), int(val))
        elif name not in ("aud", "group", "scope"):
            expect(name, claims.get(name), val)
    if "aud" in want:
        aud = claims.get("aud")
        if aud != want["aud"] and not (isinstance(aud, list) and aud == [want["aud"]]):
            bad.append("aud is %r, expected %r" % (aud, want["aud"]))
    groups = claims.get("groups") or []
    for g in want["group"]:
        if g not in groups:
            bad.append("group %r missing from %r" % (g, groups))
    scope = claims.get("scope") or ""
    scopes = scope.split() if isinstance(scope, str) else scope
    for s in want["scope"]:
        if s not in scopes:
            bad.append("scope %r missing from %r" % (s, scope))
    now = time.time()
    for c in ("iat", "nbf", "exp", "jti", "sid", "iss"):
        if c not in claims:
            bad.append("claim %s missing" % c)
    if isinstance(claims.get("exp"), (int, float)) and not claims["exp"] > now:
        bad.append("exp %r is not in the future" % claims["exp"])
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
