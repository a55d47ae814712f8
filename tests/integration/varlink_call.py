#!/usr/bin/python3
"""varlink_call.py: one Varlink call on a Unix socket, as the calling user.
Prints the reply object (JSON) and exits 0 if a reply came, 1 otherwise.

usage: varlink_call.py SOCKET METHOD [PARAMETERS_JSON]"""
import json
import socket
import sys


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    path, method = sys.argv[1], sys.argv[2]
    params = json.loads(sys.argv[3]) if len(sys.argv) == 4 else {}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(path)
        s.sendall(json.dumps({"method": method, "parameters": params}).encode() + b"\0")
        buf = b""
        while b"\0" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError as e:
        print("transport error: %s" % e)
        return 1
    if b"\0" not in buf:
        print("no reply (connection closed after %d bytes)" % len(buf))
        return 1
    print(json.dumps(json.loads(buf.split(b"\0", 1)[0]), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
