#!/usr/bin/python3
"""access_table.py: every method of the daemon's dispatch table, called once
as the calling user. The table is read from daemon/dispatch.c itself, so a
method added there is called here without this file changing.

usage: access_table.py table DISPATCH_C
         prints "METHOD CLASS", one line per row of the table
       access_table.py call SOCKET DISPATCH_C OWNER
         prints "METHOD CLASS OUTCOME ROWS" per method: OUTCOME is denied
         (io.enrich.PermissionDenied), served (a reply) or the error name;
         ROWS how many rows about OWNER a listing returned (- if none is a
         listing). Methods of class ACCESS_SELF_OR_ADMIN are asked about
         OWNER's rows ({"user": OWNER}); the others get no parameters, so
         that a method an identity may call answers InvalidParameter at worst
         and changes nothing."""
import json
import re
import socket
import sys

ROW = re.compile(r'\{\s*"(io\.enrich\.\w+)",\s*(ACCESS_\w+),\s*(\w+),\s*(\w+)\s*\}')
LISTS = ("sessions", "grants", "entries", "requests")


def table(path):
    text = open(path).read()
    start = text.index("static const method methods[] = {")
    rows = ROW.findall(text[start:text.index("};", start)])
    if not rows:
        raise SystemExit("no rows found in the dispatch table of %s" % path)
    return [(name, access) for name, access, _, _ in rows]


def call(path, method, params):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(json.dumps({"method": method, "parameters": params}).encode() + b"\0")
    buf = b""
    while b"\0" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return json.loads(buf.split(b"\0", 1)[0])


def about(row, owner):
    return row.get("user") == owner or row.get("subject") == owner


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "table":
        for name, access in table(sys.argv[2]):
            print(name, access)
        return 0
    if len(sys.argv) != 5 or sys.argv[1] != "call":
        raise SystemExit(__doc__)
    sock, dispatch_c, owner = sys.argv[2:]
    for name, access in table(dispatch_c):
        params = {"user": owner} if access == "ACCESS_SELF_OR_ADMIN" else {}
        reply = call(sock, name, params)
        error = reply.get("error")
        outcome = "denied" if error == "io.enrich.PermissionDenied" else error or "served"
        rows = "-"
        for key in LISTS:
            if isinstance(reply.get("parameters", {}).get(key), list):
                rows = str(sum(1 for r in reply["parameters"][key] if about(r, owner)))
        print(name, access, outcome, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
