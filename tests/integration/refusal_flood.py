#!/usr/bin/python3
"""refusal_flood.py: many callers cycling through every call they are refused
(run by refusals.sh as root).

  refusal_flood.py SOCKET SECONDS CONNECTIONS USER...
      For each USER, a child process drops to that user and, on CONNECTIONS
      connections, sends the calls below in turn until SECONDS have passed
      (at most 30), one call in flight per connection. Prints one JSON
      object: {"denied": {user: PermissionDenied replies}, "other": {error:
      count}, "methods": {method: PermissionDenied replies}}.
  refusal_flood.py connect SOCKET SECONDS USER HOLD N
      As USER, holds HOLD connections (the per-uid cap), then opens N more
      spread over SECONDS (at most 30), each of which the daemon should
      close at once. Prints {"held": H, "refused": closed at once}."""
import json
import os
import pwd
import selectors
import socket
import sys
import time

# Calls an unprivileged user is refused, each with parameters that pass
# parsing, so that the permission check answers.
OTHER = "root"
CALLS = [
    ("io.enrich.Enrich", {"user": OTHER, "service": "sshd"}),
    ("io.enrich.AttachKey", {"sid": "x", "keySerial": 1}),
    ("io.enrich.EndSession", {"sid": "x"}),
    ("io.enrich.Grant", {"user": OTHER, "scopes": ["x"], "ttl": 60, "reason": "flood"}),
    ("io.enrich.ListGrants", {"user": OTHER}),
    ("io.enrich.RevokeGrant", {"id": "x"}),
    ("io.enrich.RevokeSession", {"sid": "x"}),
    ("io.enrich.RevokeUser", {"user": OTHER}),
    ("io.enrich.Explain", {"user": OTHER}),
    ("io.enrich.Refresh", {"user": OTHER}),
    ("io.enrich.Reload", {}),
    ("io.enrich.Authenticate", {"user": OTHER, "token": "x", "service": "sshd"}),
    ("io.enrich.TokenIssue", {"user": OTHER, "reason": "flood"}),
    ("io.enrich.TokenList", {"user": OTHER}),
    ("io.enrich.TokenRevoke", {"id": "x"}),
    ("io.enrich.TokenRotate", {"id": "x", "verifier": "x"}),
    ("io.enrich.TokenUnlock", {"user": OTHER}),
    ("io.enrich.Disable", {"user": OTHER, "reason": "flood"}),
    ("io.enrich.Enable", {"user": OTHER}),
    ("io.enrich.CheckAccount", {"user": OTHER}),
    ("io.enrich.AuditList", {"user": OTHER}),
    ("io.enrich.AuditVerify", {}),
    ("io.enrich.AuditCheckpoint", {}),
    ("io.enrich.RotateKey", {}),
]
FRAMES = [json.dumps({"method": m, "parameters": p}).encode() + b"\0" for m, p in CALLS]


def child(path, seconds, n_connections, user, out):
    pw = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    sel = selectors.DefaultSelector()
    state = {}
    for i in range(n_connections):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        s.setblocking(False)
        state[s] = [i % len(CALLS), b""]
        s.sendall(FRAMES[state[s][0]])
        sel.register(s, selectors.EVENT_READ)
    denied, other, methods = 0, {}, {}
    deadline = time.monotonic() + seconds
    while state:
        for key, _ in sel.select(timeout=5):
            s = key.fileobj
            st = state[s]
            chunk = s.recv(1 << 16)
            if not chunk:
                other["eof"] = other.get("eof", 0) + 1
                sel.unregister(s)
                del state[s]
                continue
            st[1] += chunk
            while b"\0" in st[1] and s in state:
                one, st[1] = st[1].split(b"\0", 1)
                error = json.loads(one).get("error") or "ok"
                method = CALLS[st[0]][0]
                if error == "io.enrich.PermissionDenied":
                    denied += 1
                    methods[method] = methods.get(method, 0) + 1
                else:
                    other[method + " " + error] = other.get(method + " " + error, 0) + 1
                if time.monotonic() >= deadline:
                    sel.unregister(s)
                    s.close()
                    del state[s]
                    break
                st[0] = (st[0] + 1) % len(CALLS)
                s.setblocking(True)
                s.sendall(FRAMES[st[0]])
                s.setblocking(False)
    os.write(out, (json.dumps({"user": user, "denied": denied, "other": other, "methods": methods}) + "\n").encode())


def connect_flood(path, seconds, user, hold, n):
    pw = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    held = []
    for _ in range(hold):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        held.append(s)
    # Let the daemon accept them all before the refused ones come.
    time.sleep(0.5)
    refused = 0
    for i in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(path)
            if s.recv(1) == b"":
                refused += 1
        except OSError:
            pass
        s.close()
        time.sleep(seconds / max(n, 1))
    print(json.dumps({"held": len(held), "refused": refused}))


def main():
    if len(sys.argv) == 7 and sys.argv[1] == "connect":
        connect_flood(sys.argv[2], min(float(sys.argv[3]), 30), sys.argv[4], int(sys.argv[5]), min(int(sys.argv[6]), 5000))
        return
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    path, seconds, n_connections = sys.argv[1], min(float(sys.argv[2]), 30), int(sys.argv[3])
    users = sys.argv[4:]
    r, w = os.pipe()
    pids = []
    for user in users:
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                child(path, seconds, n_connections, user, w)
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(w)
    for pid in pids:
        os.waitpid(pid, 0)
    text = b""
    while True:
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        text += chunk
    result = {"denied": {}, "other": {}, "methods": {}}
    for line in text.decode().splitlines():
        one = json.loads(line)
        result["denied"][one["user"]] = one["denied"]
        for k, v in one["other"].items():
            result["other"][k] = result["other"].get(k, 0) + v
        for k, v in one["methods"].items():
            result["methods"][k] = result["methods"].get(k, 0) + v
    print(json.dumps(result))


if __name__ == "__main__":
    main()
