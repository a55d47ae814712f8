#!/usr/bin/python3
"""oneway.py: Varlink "oneway" calls, raw on the socket, as the calling user.

usage: oneway.py every SOCKET DISPATCH_C
         every method of daemon/dispatch.c's table as a oneway call with no
         parameters, each on its own connection and followed there by a
         plain org.varlink.service.GetInfo call: the first reply that comes
         back must be GetInfo's, so the oneway call answered nothing, not
         even an error. Prints "METHOD ok" or "METHOD WHAT" per method.
       oneway.py send SOCKET METHOD PARAMETERS_JSON
         one oneway call, the connection closed at once after writing it,
         the way pam_enrich's close sends EndSession. What it did is for
         the caller to check."""
import json
import socket
import sys

from access_table import table


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def oneway(method, params):
    return json.dumps({"method": method, "parameters": params, "oneway": True}).encode() + b"\0"


def first_reply(s):
    buf = b""
    while b"\0" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    return json.loads(buf.split(b"\0", 1)[0])


def every(path, dispatch_c):
    bad = 0
    for name, _ in table(dispatch_c):
        s = connect(path)
        s.sendall(oneway(name, {}) + json.dumps({"method": "org.varlink.service.GetInfo"}).encode() + b"\0")
        reply = first_reply(s)
        s.close()
        if reply is None:
            what = "connection closed"
        elif "error" in reply or "vendor" not in reply.get("parameters", {}):
            what = "answered " + json.dumps(reply)[:200]
        else:
            what = "ok"
        bad += what != "ok"
        print(name, what)
    return 1 if bad else 0


def send(path, method, params):
    s = connect(path)
    s.sendall(oneway(method, json.loads(params)))
    s.close()
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "every":
        return every(sys.argv[2], sys.argv[3])
    if len(sys.argv) == 5 and sys.argv[1] == "send":
        return send(sys.argv[2], sys.argv[3], sys.argv[4])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
