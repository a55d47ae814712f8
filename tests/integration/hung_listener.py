#!/usr/bin/python3
"""hung_listener.py: a "daemon" that accepts connections on a Unix socket and
never answers, to check that the PAM module gives up within its timeout.
Binds SOCKET, then accepts forever, holding every connection open.

usage: hung_listener.py SOCKET"""
import socket
import sys

held = []
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(64)
while True:
    conn, _ = s.accept()
    held.append(conn)
