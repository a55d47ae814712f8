#!/usr/bin/python3
"""flood.py: the fair-service suite's socket-level load (run by flood.sh as
root). Loopback Unix sockets only; everything is bounded in count and time
and stops by itself.

  flood.py flood SOCKET UID GID SECONDS STARTED_FILE [OTHER_UID OTHER_GID]
      As UID:GID, 32 connections each write 1,250 io.enrich.Grant calls
      (refused: UID is no admin) in one 60 KB write, read the replies and
      write again, for SECONDS. Once every connection has written its
      first batch, STARTED_FILE is created; from then until the flood
      ends, root calls io.enrich.Status on a new connection every 50 ms
      and, when OTHER_UID is given, so does that uid (every 100 ms). Each
      call gives up after 5 s. Prints one JSON object: floodReplies,
      floodConnections (that flooded), root and other: calls, failed,
      maxMs.
  flood.py more SOCKET N LIMIT ROUNDS
      As root, pipelines N io.enrich.AuditList calls with "more" (LIMIT
      rows each, one reply per row) in one write, then reads until every
      stream has ended or 5 s have passed; ROUNDS times, each on a new
      connection, stopping at the first round that stalled. Prints one
      JSON object: calls, rounds, completedRounds, minBytes (the least
      one round received), slowestSeconds."""
import json
import os
import socket
import sys
import threading
import time

CONNECTIONS = 32
BATCH = 1250
CALL_TIMEOUT = 5


def connect(path, timeout=CALL_TIMEOUT):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def frame(method, params, more=False):
    msg = {"method": method, "parameters": params}
    if more:
        msg["more"] = True
    return json.dumps(msg, separators=(",", ":")).encode() + b"\0"


def drop_to(uid, gid):
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def status_once(path):
    """Milliseconds a Status on a fresh connection took, or None."""
    start = time.monotonic()
    try:
        s = connect(path)
        s.sendall(frame("io.enrich.Status", {}))
        buf = b""
        while b"\0" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                return None
            buf += chunk
        s.close()
        reply = json.loads(buf.split(b"\0", 1)[0])
    except (OSError, ValueError):
        return None
    if "error" in reply:
        return None
    return (time.monotonic() - start) * 1000


def status_loop(path, until, pause):
    calls, failed, worst = 0, 0, 0.0
    while time.monotonic() < until:
        ms = status_once(path)
        calls += 1
        if ms is None:
            failed += 1
        else:
            worst = max(worst, ms)
        time.sleep(pause)
    return {"calls": calls, "failed": failed, "maxMs": round(worst, 1)}


def flooder(path, until, batch, counts, started):
    try:
        s = connect(path, timeout=0.2)
    except OSError:
        started.release()
        return
    first = True
    try:
        while time.monotonic() < until:
            s.sendall(batch)
            if first:
                with counts["lock"]:
                    counts["flooding"] += 1
                started.release()
                first = False
            pending = BATCH
            while pending > 0 and time.monotonic() < until:
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                n = data.count(b"\0")
                pending -= n
                with counts["lock"]:
                    counts["replies"] += n
    except OSError:
        pass
    finally:
        if first:
            started.release()
        s.close()


def flood(path, uid, gid, seconds, started_file, other=None):
    ready_r, ready_w = os.pipe()
    result_r, result_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(ready_r)
        os.close(result_r)
        drop_to(uid, gid)
        until = time.monotonic() + seconds
        batch = frame("io.enrich.Grant", {}) * BATCH
        counts = {"replies": 0, "flooding": 0, "lock": threading.Lock()}
        started = threading.Semaphore(0)
        threads = [threading.Thread(target=flooder, args=(path, until, batch, counts, started))
                   for _ in range(CONNECTIONS)]
        for t in threads:
            t.start()
        for _ in threads:
            started.acquire()
        os.write(ready_w, b"x")
        for t in threads:
            t.join()
        del counts["lock"]
        os.write(result_w, json.dumps(counts).encode())
        os._exit(0)
    os.close(ready_w)
    os.close(result_w)
    os.read(ready_r, 1)
    until = time.monotonic() + seconds
    open(started_file, "w").close()
    other_pid, other_r = None, None
    if other:
        other_r, other_w = os.pipe()
        other_pid = os.fork()
        if other_pid == 0:
            os.close(other_r)
            drop_to(*other)
            os.write(other_w, json.dumps(status_loop(path, until, 0.1)).encode())
            os._exit(0)
        os.close(other_w)
    result = {"root": status_loop(path, until, 0.05)}
    if other_pid:
        result["other"] = json.loads(os.read(other_r, 4096) or b"{}")
        os.waitpid(other_pid, 0)
    counts = json.loads(os.read(result_r, 4096) or b"{}")
    os.waitpid(child, 0)
    result["floodReplies"] = counts.get("replies", 0)
    result["floodConnections"] = counts.get("flooding", 0)
    print(json.dumps(result))


def more_round(path, n, limit, pause):
    """One connection: n pipelined AuditList streams; (streams ended,
    bytes, seconds), giving up after 5 s (a stalled stream would wait for
    the 30 s idle timeout)."""
    s = connect(path, timeout=0.2)
    start = time.monotonic()
    s.sendall(b"".join(frame("io.enrich.AuditList", {"limit": limit}, more=True) for _ in range(n)))
    time.sleep(pause)
    completed, total, buf = 0, 0, b""
    while completed < n and time.monotonic() - start < 5:
        try:
            data = s.recv(1 << 20)
        except socket.timeout:
            continue
        if not data:
            break
        total += len(data)
        buf += data
        *messages, buf = buf.split(b"\0")
        for m in messages:
            reply = json.loads(m)
            if "error" in reply or not reply.get("continues"):
                completed += 1
    s.close()
    return completed, total, time.monotonic() - start


def more(path, n, limit, rounds):
    """Whether a reply stream past the high-water mark stalls depends on how
    much of it the kernel takes at once, so this tries several rounds, with
    and without a pause before reading, and stops at the first stall."""
    done, smallest, slowest = 0, None, 0.0
    for i in range(rounds):
        completed, total, seconds = more_round(path, n, limit, 0.1 * (i % 2))
        smallest = total if smallest is None else min(smallest, total)
        slowest = max(slowest, seconds)
        if completed < n:
            break
        done += 1
    print(json.dumps({"calls": n, "rounds": rounds, "completedRounds": done, "minBytes": smallest,
                      "slowestSeconds": round(slowest, 2)}))


def main():
    if len(sys.argv) >= 7 and sys.argv[1] == "flood":
        other = (int(sys.argv[7]), int(sys.argv[8])) if len(sys.argv) == 9 else None
        flood(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6], other)
    elif len(sys.argv) == 6 and sys.argv[1] == "more":
        more(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
