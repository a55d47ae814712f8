#!/usr/bin/python3
"""partition_proxy.py LISTEN_PORT TARGET_PORT: a loopback TCP relay that the
fleet tests put between one host and etcd, to cut that host off alone.
SIGUSR1: partition; every byte either way is dropped and new connections
are accepted but never answered, as a link that went dark (no reset).
SIGUSR2: heal; the dark connections are closed and relaying resumes.
Stops on SIGTERM, and by itself after 10 minutes."""
import selectors, signal, socket, sys, time

listen_port, target_port = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", listen_port))
server.listen(128)
server.setblocking(False)
sel.register(server, selectors.EVENT_READ, None)
peers = {}          # socket -> its other end (None: dark)
state = {"dark": False, "heal": False}
signal.signal(signal.SIGUSR1, lambda *a: state.update(dark=True))
signal.signal(signal.SIGUSR2, lambda *a: state.update(heal=True))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))

def close(s):
    other = peers.pop(s, None)
    try:
        sel.unregister(s)
    except Exception:
        pass
    s.close()
    if other is not None and other in peers:
        close(other)

deadline = time.time() + 600
while time.time() < deadline:
    if state["heal"]:
        state.update(heal=False, dark=False)
        for s in list(peers):
            if s in peers:
                close(s)
    for key, _ in sel.select(timeout=0.1):
        s = key.fileobj
        if s is server:
            client, _ = server.accept()
            client.setblocking(False)
            if state["dark"]:
                peers[client] = None
            else:
                upstream = socket.create_connection(("127.0.0.1", target_port))
                upstream.setblocking(False)
                peers[client] = upstream
                peers[upstream] = client
                sel.register(upstream, selectors.EVENT_READ, None)
            sel.register(client, selectors.EVENT_READ, None)
            continue
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            close(s)
            continue
        other = peers.get(s)
        if state["dark"] or other is None:
            continue
        try:
            other.setblocking(True)
            other.sendall(data)
            other.setblocking(False)
        except OSError:
            close(s)
