#!/usr/bin/python3
"""caps.py: uids that hold every connection enrichd lets them must not lock
root out. Run as root.

usage: caps.py MAIN_SOCKET USERDB_SOCKET PER_UID HOLD_S UID:GID...

Each UID (a child dropped to it) opens up to PER_UID connections to each
socket and holds them; after they settle, the connections the daemon kept
are counted (a refused one reads EOF). Then root, while they are held,
calls io.enrich.Status on the main socket and GetMemberships on the userdb
socket 10 times each. Prints one JSON object:
{"held": {"main": N, "userdb": N}, "root": {"main": {"answered": N,
"maxMs": MS}, "userdb": {...}}}. Every child exits after HOLD_S seconds at
the latest (and when root is done)."""
import json
import os
import select
import signal
import socket
import sys
import time

CALLS = 10


def kept(conns):
    """How many of conns the daemon has not closed."""
    n = 0
    for s in conns:
        r, _, _ = select.select([s], [], [], 0)
        if r:
            try:
                if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    continue
            except OSError:
                continue
        n += 1
    return n


def holder(paths, per_uid, hold_s, uid, gid, report):
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    signal.alarm(int(hold_s) + 1)
    counts = []
    conns = []
    for path in paths:
        mine = []
        for _ in range(per_uid):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2)
            try:
                s.connect(path)
            except OSError:
                s.close()
                break
            mine.append(s)
        conns.append(mine)
    time.sleep(0.5)  # the daemon accepts (or refuses) them
    for mine in conns:
        counts.append(kept(mine))
    os.write(report, (json.dumps(counts) + "\n").encode())
    time.sleep(hold_s)
    os._exit(0)


def root_calls(path, method, params):
    answered, worst = 0, 0.0
    for _ in range(CALLS):
        start = time.monotonic()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        buf = b""
        try:
            s.connect(path)
            s.sendall(json.dumps({"method": method, "parameters": params}).encode() + b"\0")
            while b"\0" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
        s.close()
        worst = max(worst, (time.monotonic() - start) * 1000)
        if b"\0" in buf:
            reply = json.loads(buf.split(b"\0", 1)[0])
            if "parameters" in reply or "error" in reply:
                answered += 1
    return {"answered": answered, "maxMs": round(worst, 1)}


def main():
    if len(sys.argv) < 6:
        raise SystemExit(__doc__)
    main_path, userdb_path = sys.argv[1], sys.argv[2]
    per_uid, hold_s = int(sys.argv[3]), float(sys.argv[4])
    ids = [tuple(int(x) for x in a.split(":")) for a in sys.argv[5:]]
    rd, wr = os.pipe()
    pids = []
    for uid, gid in ids:
        pid = os.fork()
        if pid == 0:
            os.close(rd)
            try:
                holder([main_path, userdb_path], per_uid, hold_s, uid, gid, wr)
            finally:
                os._exit(1)
        pids.append(pid)
    os.close(wr)
    held = [0, 0]
    reports = 0
    with os.fdopen(rd) as f:
        deadline = time.monotonic() + hold_s
        while reports < len(ids) and time.monotonic() < deadline:
            line = f.readline()
            if not line:
                break
            counts = json.loads(line)
            held[0] += counts[0]
            held[1] += counts[1]
            reports += 1
        result = {
            "holders": reports,
            "held": {"main": held[0], "userdb": held[1]},
            "root": {
                "main": root_calls(main_path, "io.enrich.Status", {}),
                "userdb": root_calls(userdb_path, "io.systemd.UserDatabase.GetMemberships",
                                     {"userName": "root", "service": os.path.basename(userdb_path)}),
            },
        }
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    for pid in pids:
        os.waitpid(pid, 0)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
