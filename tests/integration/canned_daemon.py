#!/usr/bin/python3
"""canned_daemon.py: a stand-in for enrichd that answers io.enrich.Enrich
from constants (sid "canned", ttl 600, the given uid) without touching the
key, ignores oneway calls, and logs every call's method, one a line, to
LOG. Run as any user, to see whom the PAM module trusts.

usage: canned_daemon.py SOCKET UID LOG"""
import json
import socket
import sys

path, uid, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(16)
while True:
    conn, _ = s.accept()
    buf = b""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            buf += data
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                call = json.loads(msg)
                with open(log, "a") as f:
                    f.write(call.get("method", "?") + "\n")
                if call.get("oneway"):
                    continue
                reply = {"parameters": {"sid": "canned", "ttl": 600, "uid": uid}}
                conn.sendall(json.dumps(reply).encode() + b"\0")
    except OSError:
        pass
    conn.close()
