#!/usr/bin/python3
"""userdb_service.py: a minimal io.systemd.UserDatabase service that serves
one group with fixed members, as a directory (LDAP, SSSD, systemd-homed)
would through nss-systemd. userdb.sh runs it on a socket in
/run/systemd/userdb/ to give a user a group that /etc/group does not know.
It serves until killed; the caller removes the socket. With
USERDB_SERVICE_DELAY_FILE set, every io.systemd.UserDatabase call first
waits the seconds that file holds (a slow directory; none when absent).

usage: userdb_service.py SOCKET GROUP GID MEMBER[,MEMBER...]"""
import json
import os
import socket
import socketserver
import sys
import time


class Handler(socketserver.BaseRequestHandler):
    def send(self, obj):
        self.request.sendall(json.dumps(obj).encode() + b"\0")

    def error(self, name):
        self.send({"error": name, "parameters": {}})

    def answer(self, items, more):
        if not items:
            return self.error("io.systemd.UserDatabase.NoRecordFound")
        if not more:
            return self.send({"parameters": items[0]})
        for i, item in enumerate(items):
            reply = {"parameters": item}
            if i + 1 < len(items):
                reply["continues"] = True
            self.send(reply)

    def call(self, message):
        srv = self.server
        method = message.get("method", "")
        params = message.get("parameters") or {}
        more = bool(message.get("more"))
        if method == "org.varlink.service.GetInfo":
            return self.send({"parameters": {"vendor": "enrich tests", "product": "userdb_service",
                                             "version": "1", "url": "",
                                             "interfaces": ["io.systemd.UserDatabase"]}})
        if not method.startswith("io.systemd.UserDatabase."):
            return self.error("org.varlink.service.MethodNotFound")
        delay_file = os.environ.get("USERDB_SERVICE_DELAY_FILE")
        if delay_file:
            try:
                with open(delay_file) as f:
                    time.sleep(min(float(f.read() or 0), 10))
            except (OSError, ValueError):
                pass
        if params.get("service") != srv.service:
            return self.error("io.systemd.UserDatabase.BadService")
        if method.endswith(".GetUserRecord"):
            return self.error("io.systemd.UserDatabase.NoRecordFound")
        if method.endswith(".GetGroupRecord"):
            name, gid = params.get("groupName"), params.get("gid")
            if (name is not None and name != srv.group) or (gid is not None and gid != srv.gid):
                return self.error("io.systemd.UserDatabase.NoRecordFound")
            record = {"groupName": srv.group, "gid": srv.gid, "members": srv.members,
                      "service": srv.service, "disposition": "regular"}
            return self.answer([{"record": record, "incomplete": False}], more)
        if method.endswith(".GetMemberships"):
            user, group = params.get("userName"), params.get("groupName")
            if group is not None and group != srv.group:
                return self.error("io.systemd.UserDatabase.NoRecordFound")
            items = [{"userName": m, "groupName": srv.group} for m in srv.members
                     if user is None or m == user]
            return self.answer(items, more)
        return self.error("org.varlink.service.MethodNotFound")

    def handle(self):
        buf = b""
        self.request.settimeout(10)
        try:
            while True:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    self.call(json.loads(raw))
        except (OSError, ValueError):
            return


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    path, group, gid, members = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if os.path.exists(path):
        os.unlink(path)
    server = Server(path, Handler)
    os.chmod(path, 0o666)
    server.service = os.path.basename(path)
    server.group, server.gid = group, gid
    server.members = [m for m in members.split(",") if m]
    server.serve_forever()


if __name__ == "__main__":
    main()
