#!/usr/bin/python3
"""groupcommit_kill.py: many concurrent Enrich clients, then SIGKILL of the
daemon in the middle of their traffic (so in the middle of a group commit).
Each of CLIENTS connections keeps up to 16 calls in flight (pipelined);
every sid a reply named is written to OUT, one per line, as it arrives.
Bounded: at most 4,000 calls per client and KILL_MS + 5 s in all.

usage: groupcommit_kill.py SOCKET DAEMON_PID USER CLIENTS KILL_MS OUT"""
import json
import os
import signal
import socket
import sys
import threading
import time


def client(path, user, acked, lock, stop):
    params = {"user": user, "service": "enrich-test", "pid": os.getpid()}
    message = json.dumps({"method": "io.enrich.Enrich", "parameters": params}).encode() + b"\0"
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(path)
        sent = got = 0
        buf = b""
        while not stop.is_set() and sent < 4000:
            while sent - got < 16 and sent < 4000:
                s.sendall(message)
                sent += 1
            chunk = s.recv(1 << 16)
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                one, buf = buf.split(b"\0", 1)
                got += 1
                sid = json.loads(one).get("parameters", {}).get("sid")
                if sid:
                    with lock:
                        acked.append(sid)
    except OSError:
        return


def main():
    if len(sys.argv) != 7:
        raise SystemExit(__doc__)
    path, pid, user, clients, kill_ms, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], \
        int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    acked, lock, stop = [], threading.Lock(), threading.Event()
    threads = [threading.Thread(target=client, args=(path, user, acked, lock, stop), daemon=True)
               for _ in range(min(clients, 64))]
    for t in threads:
        t.start()
    time.sleep(kill_ms / 1000.0)
    os.kill(pid, signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(5)
    with lock, open(out, "w") as f:
        for sid in acked:
            f.write(sid + "\n")
    print(json.dumps({"acked": len(acked)}))


main()
