#!/usr/bin/python3
"""paging.py: drives the paged listings of enrichd for tests/integration/paging.sh.

  paging.py bulk SOCKET METHOD N PARAMS_JSON
      Calls METHOD N times with PARAMS_JSON on one connection (as the
      caller); "{i}" in a string parameter becomes the call's number. Prints
      how many calls succeeded, and the first error.
  paging.py walk SOCKET METHOD KEY ID LIMIT PARAMS_JSON [INSERT_METHOD INSERT_PARAMS_JSON]
      Lists METHOD page by page (limit LIMIT), following next, and between
      pages (as root) calls INSERT_METHOD to add a row. Prints one JSON object:
      pages, ids (the ID member of each row of KEY, in order), sizes (of each
      page), lastNext (whether the last page had no next), error."""
import json
import socket
import sys


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def call(s, method, params):
    s.sendall(json.dumps({"method": method, "parameters": params}).encode() + b"\0")
    buf = b""
    while b"\0" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return None
        buf += chunk
    return json.loads(buf.split(b"\0", 1)[0])


def substitute(value, i):
    if isinstance(value, str):
        return value.replace("{i}", str(i))
    if isinstance(value, list):
        return [substitute(v, i) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, i) for k, v in value.items()}
    return value


def bulk(path, method, n, params):
    s = connect(path)
    done, first_error = 0, None
    for i in range(n):
        reply = call(s, method, substitute(params, i))
        if reply is None:
            s = connect(path)
            reply = {"error": "connection closed"}
        if "error" in reply:
            first_error = first_error or reply
        else:
            done += 1
    print(json.dumps({"done": done, "firstError": first_error}))


def walk(path, method, key, id_key, limit, params, insert=None):
    ids, sizes, after, pages = [], [], None, 0
    result = {"error": None}
    while pages < 10000:
        p = dict(params, limit=limit)
        if after is not None:
            p["after"] = after
        s = connect(path)
        reply = call(s, method, p)
        s.close()
        pages += 1
        if not reply or "error" in reply:
            result["error"] = reply
            break
        rows = reply["parameters"][key]
        sizes.append(len(rows))
        ids.extend(r[id_key] for r in rows)
        after = reply["parameters"].get("next")
        if after is None:
            break
        if insert:
            s = connect(path)
            added = call(s, insert[0], substitute(insert[1], pages))
            s.close()
            if not added or "error" in added:
                result["error"] = added
                break
    result.update(pages=pages, ids=ids, sizes=sizes, lastNext=after is None)
    print(json.dumps(result))


def main():
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "bulk":
        bulk(a[1], a[2], int(a[3]), json.loads(a[4]))
    elif len(a) in (7, 9) and a[0] == "walk":
        insert = (a[7], json.loads(a[8])) if len(a) == 9 else None
        walk(a[1], a[2], a[3], a[4], int(a[5]), json.loads(a[6]), insert)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
