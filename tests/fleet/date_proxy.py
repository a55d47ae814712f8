#!/usr/bin/python3
"""date_proxy.py LISTEN_PORT TARGET_PORT OFFSET_FILE: a loopback HTTP relay
in front of etcd's JSON gateway whose answers carry a Date header shifted
by the seconds in OFFSET_FILE (read at each request), as an etcd whose
clock is off would send. Unary calls only: a watch is refused at once
(503), so a host's watcher moves on to its next endpoint. Stops on SIGTERM,
and by itself after 10 minutes."""
import email.utils, http.client, http.server, signal, sys, threading, time

listen_port, target_port, offset_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))


class Relay(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/v3/watch"):
            self.send_response_only(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
        upstream = http.client.HTTPConnection("127.0.0.1", target_port, timeout=5)
        upstream.request("POST", self.path, body, headers)
        answer = upstream.getresponse()
        data = answer.read()
        upstream.close()
        try:
            offset = float(open(offset_file).read().strip() or 0)
        except OSError:
            offset = 0
        self.send_response_only(answer.status)
        self.send_header("Content-Type", answer.getheader("Content-Type", "application/json"))
        self.send_header("Date", email.utils.formatdate(time.time() + offset, usegmt=True))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", listen_port), Relay)
server.daemon_threads = True
stopper = threading.Timer(600, lambda: server.shutdown())
stopper.daemon = True
stopper.start()
server.serve_forever()
