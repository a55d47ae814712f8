#!/usr/bin/python3
"""tests/e2e/jsonq.py: small JSON helper for the e2e shell scenarios.

  jsonq.py get PATH      read JSON on stdin, print the value at PATH
                        ("act.sub", "sessions.0.sid"); lists print one item
                        a line; a missing value prints nothing, exits 1
  jsonq.py payload       read a compact JWS on stdin, print its payload JSON
  jsonq.py sids          read `enrichctl sessions --json`, print one sid a line
"""
import base64
import json
import sys


def get(doc, path):
    for part in path.split(".") if path else []:
        if isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        elif isinstance(doc, dict) and part in doc:
            doc = doc[part]
        else:
            return None
    return doc


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    data = sys.stdin.read().strip()
    try:
        if cmd == "payload":
            part = data.split(".")[1]
            part += "=" * (-len(part) % 4)
            print(base64.urlsafe_b64decode(part).decode())
            return 0
        doc = json.loads(data)
    except (ValueError, IndexError):
        return 2
    if cmd == "sids":
        for s in doc.get("sessions", []):
            print(s.get("sid", ""))
        return 0
    if cmd != "get" or len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    value = get(doc, sys.argv[2])
    if value is None:
        return 1
    if isinstance(value, list):
        for v in value:
            print(v if isinstance(v, str) else json.dumps(v))
    elif isinstance(value, str):
        print(value)
    else:
        print(json.dumps(value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
