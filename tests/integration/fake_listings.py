#!/usr/bin/python3
"""fake_listings.py: a stand-in enrichd for enrichctl's pager. Binds SOCKET
and answers, one connection at a time:
  io.enrich.ListGrants: pages of 500 small grants without end, each with a
      new next cursor (a listing longer than enrichctl shows);
  io.enrich.AuditList: with MODE "stuck", one row and the same next every
      time (a daemon whose listing does not move on); with MODE "newest",
      limit rows (default 1000) counting down from row 100000, with next.
Every call is logged to LOG as one JSON line: {"conn": N, "method": M,
"parameters": {...}}.

usage: fake_listings.py SOCKET MODE LOG"""
import json
import socket
import sys


def answer(method, params, state):
    if method == "io.enrich.ListGrants":
        state["grants"] += 1
        n = state["grants"]
        rows = [{"id": "g%d-%d" % (n, i), "user": "u", "created": 1000000 - n, "expires": 2000000000}
                for i in range(500)]
        return {"grants": rows, "next": "%d.g%d" % (1000000 - n, n)}
    if method == "io.enrich.AuditList" and state["mode"] == "stuck":
        return {"entries": [{"id": 5, "time": 1, "action": "x", "result": "ok", "details": {}}], "next": "b5"}
    if method == "io.enrich.AuditList":
        top = 100001
        after = params.get("after")
        if after:
            top = int(after[1:])
        limit = params.get("limit", 1000)
        ids = list(range(top - 1, max(top - 1 - limit, 0), -1))
        rows = [{"id": i, "time": 1, "action": "x", "result": "ok", "details": {}} for i in reversed(ids)]
        reply = {"entries": rows}
        if ids and ids[-1] > 1:
            reply["next"] = "b%d" % ids[-1]
        return reply
    return None


def main():
    path, mode, log = sys.argv[1], sys.argv[2], sys.argv[3]
    state = {"mode": mode, "grants": 0}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(8)
    conn_no = 0
    while True:
        conn, _ = s.accept()
        conn_no += 1
        buf = b""
        with conn:
            while True:
                while b"\0" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                if b"\0" not in buf:
                    break
                message, buf = buf.split(b"\0", 1)
                call = json.loads(message)
                params = call.get("parameters") or {}
                with open(log, "a") as f:
                    f.write(json.dumps({"conn": conn_no, "method": call.get("method"), "parameters": params}) + "\n")
                out = answer(call.get("method"), params, state)
                if out is None:
                    reply = {"error": "org.varlink.service.MethodNotFound", "parameters": {}}
                else:
                    reply = {"parameters": out}
                try:
                    conn.sendall(json.dumps(reply, separators=(",", ":")).encode() + b"\0")
                except OSError:
                    break


if __name__ == "__main__":
    main()
