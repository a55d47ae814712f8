#!/usr/bin/python3
"""audit_follow.py: the open AuditList follow (io.enrich.AuditList with
follow and more) against a running enrichd, one scenario per run; prints
one JSON object. Everything is bounded in count and time.

usage:
  audit_follow.py latency SOCK ENRICHCTL JWKS GRANTEE N
      enrichctl audit --follow --json as a child; N grants to GRANTEE over
      the socket; for each, the ms from the Grant's reply (the row is
      committed) to its line from enrichctl; then SIGINT and its exit code.
  audit_follow.py visible SOCK UID:GID USER OTHER
      a follow as UID (no filters); root grants to USER and OTHER; the
      users of the rows it got, and whether any shows an actor.
  audit_follow.py filter SOCK GRANTEE
      a follow of action grant.created as root; a checkpoint and a grant;
      the actions it got.
  audit_follow.py bounds SOCK GRANTEE UID:GID...
      each UID opens follows until refused (at most 8) and holds them
      without reading, then plain connections until refused (at most 40); then root opens one, grants 300 rows to GRANTEE
      on one connection while it calls Status on another, 40 times.
  audit_follow.py demote SOCK UID:GID USER GROUP GRANTEE
      an admin's follow (USER, in GROUP, the admin_group); a grant to
      GRANTEE reaches it; USER leaves GROUP; another grant: the follow
      ends with an error instead of showing it.
  audit_follow.py noread SOCK GRANTEE[,GRANTEE...] DAEMON_PID N
      a follow as root that never reads (small receive buffer); N grants
      (round robin between the grantees, each under the per-user cap);
      the daemon's RSS before and after, and whether the follow was
      closed."""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time


def connect(path, rcvbuf=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(path)
    return s


class Conn:
    def __init__(self, path, rcvbuf=None):
        self.s = connect(path, rcvbuf)
        self.buf = b""

    def send(self, method, params, more=False):
        msg = {"method": method, "parameters": params}
        if more:
            msg["more"] = True
        self.s.sendall(json.dumps(msg).encode() + b"\0")

    def next(self, timeout=10):
        self.s.settimeout(timeout)
        while b"\0" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        one, self.buf = self.buf.split(b"\0", 1)
        return json.loads(one)

    def call(self, method, params):
        self.send(method, params)
        return self.next()


def grant(c, user, reason):
    r = c.call("io.enrich.Grant", {"user": user, "scopes": ["eu17:follow"], "ttl": 600, "reason": reason})
    if "error" in r:
        raise SystemExit("grant failed: %s" % r)


def follow(path, params=None, rcvbuf=None):
    """Opens a follow; returns (conn, first reply)."""
    c = Conn(path, rcvbuf)
    p = {"follow": True}
    p.update(params or {})
    c.send("io.enrich.AuditList", p, more=True)
    return c, c.next()


def rows(c, seconds):
    """Every entry c gets within seconds."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            r = c.next(max(0.01, end - time.monotonic()))
        except (socket.timeout, EOFError):
            break
        out.extend(r.get("parameters", {}).get("entries", []))
    return out


def latency(path, ctl, jwks, grantee, n):
    child = subprocess.Popen([ctl, "--socket", path, "--jwks", jwks, "--json", "audit", "--follow",
                              "--action", "grant.created", "--user", grantee],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.set_blocking(child.stdout.fileno(), False)
    time.sleep(0.5)
    c = Conn(path)
    pending = b""
    ms = []
    for i in range(n):
        reason = "eu17 latency %d %d" % (os.getpid(), i)
        grant(c, grantee, reason)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3:
            try:
                data = os.read(child.stdout.fileno(), 65536)
            except BlockingIOError:
                data = b""
            pending += data
            if reason.encode() in pending:
                ms.append((time.monotonic() - t0) * 1000)
                break
            if not data:
                time.sleep(0.002)
        # The next grant lands at another point of a poll's period.
        time.sleep(0.137)
    child.send_signal(signal.SIGINT)
    try:
        rc = child.wait(5)
    except subprocess.TimeoutExpired:
        child.kill()
        rc = -1
    return {"got": len(ms), "maxMs": round(max(ms), 1) if ms else None,
            "medianMs": round(statistics.median(ms), 1) if ms else None, "exit": rc,
            "stderr": child.stderr.read().decode(errors="replace")}


def as_uid(spec):
    uid, gid = (int(x) for x in spec.split(":"))
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def visible(path, spec, user, other):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        as_uid(spec)
        out = {}
        try:
            c, first = follow(path)
            out["first"] = first
            os.write(w, b"x")
            got = rows(c, 2)
            out["users"] = sorted({e.get("user") or "" for e in got})
            out["actor"] = any("actor" in e or "actorUid" in e for e in got)
            out["n"] = len(got)
        except Exception as e:  # noqa: BLE001 - reported, not raised
            out["exception"] = str(e)
            os.write(w, b"x")
        os.write(w, b"\n" + json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    os.read(r, 1)
    c = Conn(path)
    grant(c, user, "eu17 mine")
    grant(c, other, "eu17 not mine")
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    return json.loads(data.strip() or b"{}")


def filtered(path, grantee):
    c, first = follow(path, {"action": "grant.created"})
    w = Conn(path)
    w.call("io.enrich.AuditCheckpoint", {})
    grant(w, grantee, "eu17 filtered")
    got = rows(c, 1)
    return {"first": first, "actions": sorted({e["action"] for e in got}), "n": len(got)}


def demote(path, spec, user, group, grantee):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        as_uid(spec)
        out = {"reasons": [], "error": None}
        try:
            c, first = follow(path)
            out["first"] = first.get("error") or "open"
            os.write(w, b"x")
            end = time.monotonic() + 4
            while time.monotonic() < end:
                try:
                    m = c.next(max(0.01, end - time.monotonic()))
                except (socket.timeout, EOFError):
                    break
                if "error" in m:
                    out["error"] = m["error"]
                    break
                out["reasons"] += [e.get("details", {}).get("reason") for e in m["parameters"]["entries"]]
        except Exception as e:  # noqa: BLE001 - reported, not raised
            out["exception"] = str(e)
            os.write(w, b"x")
        os.write(w, b"\n" + json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    os.read(r, 1)
    c = Conn(path)
    grant(c, grantee, "eu17 while admin")
    time.sleep(0.5)
    subprocess.run(["gpasswd", "-d", user, group], check=True, stdout=subprocess.DEVNULL)
    grant(c, grantee, "eu17 after demotion")
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    return json.loads(data.strip() or b"{}")


def holder(path, spec, report):
    as_uid(spec)
    conns, refusal = [], None
    for _ in range(8):
        try:
            c, first = follow(path)
        except OSError as e:
            refusal = "transport: %s" % e
            break
        if "error" in first:
            refusal = first["error"]
            c.s.close()
            break
        conns.append(c)
    # Then plain connections, each answering a Status, until refused: a
    # parked follow takes one of the uid's connections like any other.
    plain = []
    for _ in range(40):
        try:
            p = Conn(path)
            if "error" in p.call("io.enrich.Status", {}):
                break
        except (OSError, EOFError):
            break
        plain.append(p)
    os.write(report, (json.dumps({"opened": len(conns), "refusal": refusal, "plain": len(plain)}) + "\n").encode())
    # Held, never read, until the parent closes the pipe's other end.
    signal.pause()


def bounds(path, grantee, specs):
    kids, results = [], []
    for spec in specs:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                holder(path, spec, w)
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            line = f.readline()
        results.append(json.loads(line) if line else {"opened": 0, "refusal": "holder died"})
        kids.append(pid)
    out = {"holders": results}
    try:
        c, first = follow(path)
        out["root"] = "error" not in first
        writer, status = Conn(path), Conn(path)
        worst = 0.0
        for i in range(300):
            grant(writer, grantee, "eu17 bounds %d" % i)
            if i % 8 == 0:
                t0 = time.monotonic()
                r = status.call("io.enrich.Status", {})
                worst = max(worst, (time.monotonic() - t0) * 1000)
                if "error" in r:
                    out["statusError"] = r
        out["statusMaxMs"] = round(worst, 1)
        out["rootGot"] = len(rows(c, 2))
    finally:
        for pid in kids:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
    return out


def stray(path, spec):
    """As the user spec: 4 follows sent oneway (their connections then
    closed), then a follow and a Status pipelined in one write. Whether
    Status was answered while the follow was open (it must wait: a reply
    there is not the open call's), and whether a new follow is refused
    (the oneway ones must not have kept slots)."""
    as_uid(spec)
    for _ in range(4):
        s = connect(path)
        s.sendall(json.dumps({"method": "io.enrich.AuditList", "parameters": {"follow": True},
                              "more": True, "oneway": True}).encode() + b"\0")
        time.sleep(0.05)
        s.close()
    time.sleep(0.2)
    c = Conn(path)
    c.s.sendall(json.dumps({"method": "io.enrich.AuditList", "parameters": {"follow": True},
                            "more": True}).encode() + b"\0" +
                json.dumps({"method": "io.enrich.Status", "parameters": {}}).encode() + b"\0")
    first = c.next()
    try:
        second = c.next(0.5)
    except (socket.timeout, EOFError):
        second = None
    return {"first": first.get("error") or ("open" if first.get("continues") else "closed"),
            "statusDuringFollow": second is not None}


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def noread(path, grantee, pid, n):
    c, first = follow(path, rcvbuf=4096)
    writer = Conn(path)
    grantees = grantee.split(",")
    for i in range(100):
        grant(writer, grantees[i % len(grantees)], "eu17 warm %d" % i)
    before = rss_kb(pid)
    t0 = time.monotonic()
    for i in range(n):
        grant(writer, grantees[i % len(grantees)], "eu17 unread %d %s" % (i, "x" * 980))
    seconds = time.monotonic() - t0
    after = rss_kb(pid)
    # Closed by the daemon: reading drains what was sent, then EOF.
    closed = False
    c.s.settimeout(5)
    try:
        while c.s.recv(1 << 20):
            pass
        closed = True
    except socket.timeout:
        closed = False
    return {"first": first, "rssBeforeKb": before, "rssAfterKb": after, "closed": closed,
            "grantsPerSecond": round(n / seconds)}


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "latency":
        out = latency(args[0], args[1], args[2], args[3], int(args[4]))
    elif mode == "visible":
        out = visible(*args[:4])
    elif mode == "filter":
        out = filtered(args[0], args[1])
    elif mode == "bounds":
        out = bounds(args[0], args[1], args[2:])
    elif mode == "demote":
        out = demote(*args[:5])
    elif mode == "stray":
        out = stray(args[0], args[1])
    elif mode == "noread":
        out = noread(args[0], args[1], int(args[2]), int(args[3]))
    else:
        raise SystemExit(__doc__)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
