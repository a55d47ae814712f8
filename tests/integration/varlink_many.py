#!/usr/bin/python3
"""varlink_many.py: N copies of one Varlink call written at once on one
connection (pipelined), as the calling user; reads every reply and prints
{"replies": N, "errors": {error: count}, "maxBytes": largest reply}.
Bounded: at most 20,000 calls and 60 s.

usage: varlink_many.py SOCKET METHOD PARAMETERS_JSON N"""
import json
import socket
import sys
import time


def main():
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    path, method, params, n = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    n = max(0, min(n, 20000))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    s.connect(path)
    message = json.dumps({"method": method, "parameters": params}).encode() + b"\0"
    deadline = time.monotonic() + 60
    errors, got, largest, buf, sent = {}, 0, 0, b"", 0
    while got < n and time.monotonic() < deadline:
        # At most 64 calls in flight: the daemon bounds what it queues.
        while sent < n and sent - got < 64:
            s.sendall(message)
            sent += 1
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
        while b"\0" in buf:
            one, buf = buf.split(b"\0", 1)
            largest = max(largest, len(one))
            reply = json.loads(one)
            key = reply.get("error") or "ok"
            errors[key] = errors.get(key, 0) + 1
            got += 1
    print(json.dumps({"replies": got, "errors": errors, "maxBytes": largest}))
    return 0 if got == n else 1


if __name__ == "__main__":
    sys.exit(main())
