#!/usr/bin/python3
"""enrich_proxy.py: a Varlink proxy between pam_enrich and a real enrichd,
for session_faults.sh. It logs every call the module makes (one JSON line
each: method, oneway, keySerial, and what happened) and, in drop mode,
stands in for a daemon that dies at the worst moment of an open. Each
call is logged twice: when it arrives ("received": true) and once done.

usage: enrich_proxy.py LISTEN DAEMON_SOCKET LOG MODE [DAEMON_PID]
  MODE pass  forwards every call and its reply (none for oneway calls)
  MODE drop  forwards Enrich, waits until the daemon has answered (so it
             has signed, written the token into the module's key and
             recorded the session), logs what the key holds then, kills
             the daemon with SIGKILL and closes the module's connection
             without a reply: to the module, the daemon died between
             receiving Enrich and replying.

Runs as root, so the module trusts it (SO_PEERCRED root); its socket is
root's group, the group of a daemon running as root in the tests."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading

LOCK = threading.Lock()


def log(path, entry):
    with LOCK, open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def read_message(sock, buf):
    while b"\0" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    msg, rest = buf.split(b"\0", 1)
    return json.loads(msg), rest


def key_payload(serial):
    r = subprocess.run(["keyctl", "pipe", str(serial)], capture_output=True, timeout=5)
    return r.stdout.decode(errors="replace") if r.returncode == 0 else None


def serve(client, daemon_path, log_path, mode, daemon_pid):
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    daemon.connect(daemon_path)
    buf = b""
    dbuf = b""
    try:
        while True:
            msg, buf = read_message(client, buf)
            if msg is None:
                return
            params = msg.get("parameters") or {}
            entry = {"method": msg.get("method"), "oneway": bool(msg.get("oneway")),
                     "keySerial": params.get("keySerial")}
            # At once, for a daemon that may never answer.
            log(log_path, dict(entry, received=True))
            daemon.sendall(json.dumps(msg).encode() + b"\0")
            if msg.get("oneway"):
                log(log_path, entry)
                continue
            reply, dbuf = read_message(daemon, dbuf)
            entry["reply"] = reply
            if mode == "drop" and msg.get("method") == "io.enrich.Enrich":
                serial = params.get("keySerial")
                entry["payload_at_drop"] = key_payload(serial) if serial else None
                os.kill(daemon_pid, signal.SIGKILL)
                entry["dropped"] = True
                log(log_path, entry)
                return
            log(log_path, entry)
            if reply is None:
                return
            client.sendall(json.dumps(reply).encode() + b"\0")
    finally:
        client.close()
        daemon.close()


def main():
    if len(sys.argv) not in (5, 6) or sys.argv[4] not in ("pass", "drop"):
        raise SystemExit(__doc__)
    listen, daemon_path, log_path, mode = sys.argv[1:5]
    daemon_pid = int(sys.argv[5]) if len(sys.argv) == 6 else 0
    if mode == "drop" and not daemon_pid:
        raise SystemExit("drop needs DAEMON_PID")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(listen)
    os.chmod(listen, 0o666)
    server.listen(16)
    server.settimeout(300)      # stops by itself
    while True:
        try:
            client, _ = server.accept()
        except socket.timeout:
            return 0
        threading.Thread(target=serve, args=(client, daemon_path, log_path, mode, daemon_pid),
                         daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
