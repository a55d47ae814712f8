#!/usr/bin/python3
"""abuse.py: the abuse suite's socket-level attacks (run by abuse.sh as root).

  abuse.py flood SOCKET UID GID USER N_IDLE N_CALLS [OTHER_UID OTHER_GID]
      As UID (GID): opens N_IDLE connections and holds them, half of them
      slowloris (half a message, then silence). Meanwhile, as root, calls
      io.enrich.Enrich for USER N_CALLS times, each on a new connection as
      pam_enrich does, and ends each session again. Also, before the flood,
      the same calls as a baseline; and during it, one Status as OTHER_UID.
      Prints one JSON object: held, refused, slowest refusal (ms), baseline
      and flood latencies (p50, p99, max in ms), otherStatus.
  abuse.py inputs SOCKET
      Sends each bad input on its own connection as root (so that the
      parameter parsing behind the permission checks is reached); prints
      one JSON line per case: name, the error name and parameters of the
      reply (or null), whether the connection was closed afterwards, and
      whether a fresh connection is still answered."""
import json
import os
import resource
import socket
import sys
import time


def connect(path, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def frame(method, params):
    return json.dumps({"method": method, "parameters": params}).encode() + b"\0"


def read_reply(s):
    """The next reply object, or None at EOF / timeout."""
    buf = b""
    while b"\0" not in buf:
        try:
            chunk = s.recv(65536)
        except OSError:
            return None, buf
        if not chunk:
            return None, buf
        buf += chunk
    msg, rest = buf.split(b"\0", 1)
    return json.loads(msg), rest


def call(s, method, params):
    s.sendall(frame(method, params))
    reply, _ = read_reply(s)
    return reply


def drop_to(uid, gid):
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else None


def enrich_round(path, user, n):
    latencies = []
    for _ in range(n):
        start = time.monotonic()
        s = connect(path)
        reply = call(s, "io.enrich.Enrich", {"user": user, "service": "enrich-abuse", "pid": os.getpid()})
        latencies.append((time.monotonic() - start) * 1000)
        if not reply or "error" in reply:
            raise SystemExit("Enrich failed: %r" % (reply,))
        call(s, "io.enrich.EndSession", {"sid": reply["parameters"]["sid"]})
        s.close()
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "max": max(latencies)}


def flood(path, uid, gid, user, n_idle, n_calls, other=None):
    baseline = enrich_round(path, user, n_calls)
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n_idle + 64), max(hard, n_idle + 64)))
    child = os.fork()
    if child == 0:
        os.close(ready_r)
        os.close(done_w)
        drop_to(uid, gid)
        # Past the per-uid cap (32) a connection is closed by the daemon at
        # once: each one's time from connect to EOF is its refusal time.
        alive, refused, slowest = [], 0, 0.0
        for i in range(n_idle):
            start = time.monotonic()
            try:
                s = connect(path, timeout=2)
                if i % 2:
                    s.sendall(b'{"method":"io.enrich.Status","param')
                s.settimeout(1 if i >= 32 else 0.01)
                data = s.recv(1)
            except socket.timeout:
                alive.append(s)
                continue
            except OSError:
                data = b""
            if data:
                alive.append(s)
                continue
            refused += 1
            slowest = max(slowest, (time.monotonic() - start) * 1000)
            s.close()
        os.write(ready_w, json.dumps({"held": len(alive), "refused": refused,
                                      "slowestRefusalMs": slowest}).encode())
        os.close(ready_w)
        os.read(done_r, 1)
        os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    stats = json.loads(os.read(ready_r, 4096) or b"{}")
    result = dict(stats, baseline=baseline)
    try:
        result["flood"] = enrich_round(path, user, n_calls)
        if other:
            pid = os.fork()
            if pid == 0:
                drop_to(*other)
                s = connect(path)
                r = call(s, "io.enrich.Status", {})
                os._exit(0 if r and "parameters" in r and "error" not in r else 1)
            result["otherStatus"] = os.waitpid(pid, 0)[1] == 0
    finally:
        os.write(done_w, b"x")
        os.waitpid(child, 0)
    print(json.dumps(result))


def nested(depth):
    return ('{"method":"io.enrich.Status","parameters":{"x":' + "[" * depth + "]" * depth + "}}").encode() + b"\0"


BAD_USERS = ["root'; DROP TABLE grants; --", 'a"b', "../../etc/passwd", "/etc/shadow", "x' OR '1'='1",
             "%s%s%n", "root\\", "*"]


def cases():
    c = [
        ("oversized-message", b'{"method":"io.enrich.Status","parameters":{"x":"' + b"A" * 70000 + b'"}}\0', True),
        ("oversized-no-terminator", b"A" * 70000, True),
        ("deeply-nested-json", nested(20000), True),
        ("invalid-utf8", b'{"method":"io.enrich.Grant","parameters":{"user":"\xff\xfe\xc3"}}\0', True),
        ("overlong-utf8", b'{"method":"io.enrich.Grant","parameters":{"user":"\xc0\xaf"}}\0', True),
        ("not-json", b"GET / HTTP/1.0\r\n\r\n\0", True),
        ("not-an-object", b"[1,2,3]\0", True),
        ("nul-in-user", frame("io.enrich.Grant", {"user": "ro\u0000ot", "scopes": ["x"], "ttl": 60, "reason": "t"}), False),
        ("nul-in-sid", frame("io.enrich.RevokeSession", {"sid": "a\u0000b"}), False),
        ("nul-in-method", frame("io.enrich.Status\u0000x", {}), False),
        ("huge-integer", b'{"method":"io.enrich.Grant","parameters":{"user":"root","scopes":["x"],"ttl":'
                         b'99999999999999999999999999,"reason":"t"}}\0', True),
        ("negative-ttl", frame("io.enrich.Grant", {"user": "root", "scopes": ["x"], "ttl": -1, "reason": "t"}), False),
        ("int64-ttl", frame("io.enrich.Grant", {"user": "root", "scopes": ["x"], "ttl": 2 ** 63 - 1, "reason": "t"}), False),
        ("float-ttl", frame("io.enrich.Grant", {"user": "root", "scopes": ["x"], "ttl": 1e300, "reason": "t"}), False),
        ("negative-pid", frame("io.enrich.Enrich", {"user": "root", "service": "s", "pid": -1}), False),
        ("huge-pid", frame("io.enrich.Enrich", {"user": "root", "service": "s", "pid": 2 ** 40}), False),
        ("negative-asid", frame("io.enrich.Enrich", {"user": "root", "service": "s", "pid": 1, "asid": -5}), False),
        ("negative-key-serial", frame("io.enrich.AttachKey", {"sid": "x", "keySerial": -1}), False),
        ("huge-key-serial", frame("io.enrich.AttachKey", {"sid": "x", "keySerial": 2 ** 40}), False),
        ("string-as-number", frame("io.enrich.Grant", {"user": "root", "scopes": ["x"], "ttl": "3600", "reason": "t"}), False),
        ("long-string", frame("io.enrich.Explain", {"user": "u" * 60000, "service": "s"}), False),
    ]
    for i, u in enumerate(BAD_USERS):
        c.append(("bad-user-grant-%d" % i, frame("io.enrich.Grant", {"user": u, "scopes": ["x"], "ttl": 60,
                                                                     "reason": "t"}), False))
        c.append(("bad-user-revoke-%d" % i, frame("io.enrich.RevokeUser", {"user": u}), False))
        c.append(("bad-user-explain-%d" % i, frame("io.enrich.Explain", {"user": u, "service": "s"}), False))
        c.append(("bad-user-enrich-%d" % i, frame("io.enrich.Enrich", {"user": u, "service": "s", "pid": 1}), False))
    return c


def inputs(path):
    for name, data, malformed in cases():
        s = connect(path)
        try:
            s.sendall(data)
        except OSError:
            pass  # the daemon closed before reading it all
        reply, rest = read_reply(s)
        error = reply.get("error") if reply else None
        reason = json.dumps(reply.get("parameters")) if reply else None
        # Closed: the next read sees EOF (or a reset) within the timeout.
        s.settimeout(2)
        try:
            if rest:
                closed = False
            else:
                closed = s.recv(1) == b""
        except socket.timeout:
            closed = False
        except OSError:
            closed = True
        s.close()
        alive = call(connect(path), "org.varlink.service.GetInfo", {})
        print(json.dumps({"name": name, "error": error, "reason": reason, "closed": closed,
                          "malformed": malformed, "othersServed": bool(alive and "parameters" in alive)}))
        sys.stdout.flush()


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    if sys.argv[1] == "flood" and len(sys.argv) in (8, 10):
        a = sys.argv
        other = (int(a[8]), int(a[9])) if len(a) == 10 else None
        flood(a[2], int(a[3]), int(a[4]), a[5], int(a[6]), int(a[7]), other)
    elif sys.argv[1] == "inputs" and len(sys.argv) == 3:
        inputs(sys.argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
