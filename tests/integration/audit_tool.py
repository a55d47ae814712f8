#!/usr/bin/python3
"""audit_tool.py: edits enrichd's audit trail directly in sqlite, as an
attacker with write access to the database would, for tests/integration/
audit.sh. It reimplements the canonical encoding documented in
daemon/audit.h, so that it can forge rows whose own hash is right.

  audit_tool.py DB hash-ok                 exit 0 if every stored hash matches
  audit_tool.py DB update ID               changes row ID's subject (saves it)
  audit_tool.py DB delete ID               deletes row ID (saves it)
  audit_tool.py DB forge-middle ID         shifts rows >= ID up, inserts a row
                                           at ID chaining correctly to ID-1
  audit_tool.py DB forge-end               appends a row with a made-up hash
  audit_tool.py DB swap ID                 swaps rows ID and ID+1 (all but id)
  audit_tool.py DB sig ROW                 flips one digit of ROW's checkpoint
  audit_tool.py DB restore                 undoes the last edit
  audit_tool.py DB age DAYS                rewrites every row's time DAYS ago,
                                           recomputes the chain, drops checkpoints
  audit_tool.py DB grep TEXT               exit 0 if TEXT appears in any row
"""
import hashlib
import json
import os
import sqlite3
import sys
import time

COLUMNS = "id, time, actor_uid, actor_name, subject, action, result, details, prev_hash, hash"


def canonical(r):
    obj = {"id": r[0], "time": r[1], "actor_uid": r[2], "actor_name": r[3], "subject": r[4],
           "action": r[5], "result": r[6], "details": r[7], "prev_hash": r[8]}
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def row_hash(r):
    return hashlib.sha256(bytes.fromhex(r[8]) + canonical(r)).hexdigest()


def main():
    path, cmd = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else None
    saved = path + ".eu6-undo"
    db = sqlite3.connect(path, timeout=10)
    cur = db.cursor()
    rows = lambda: cur.execute(f"SELECT {COLUMNS} FROM audit ORDER BY id").fetchall()
    get = lambda i: cur.execute(f"SELECT {COLUMNS} FROM audit WHERE id = ?", (i,)).fetchone()
    insert = lambda r: cur.execute(f"INSERT INTO audit ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", r)

    def shift(from_id, by):
        # Two steps through negative ids: the primary key stays unique.
        cur.execute("UPDATE audit SET id = -id WHERE id >= ?", (from_id,))
        cur.execute("UPDATE audit SET id = -id + ? WHERE id < 0", (by,))

    if cmd == "hash-ok":
        sys.exit(0 if all(row_hash(r) == r[9] for r in rows()) else 1)
    elif cmd == "grep":
        sys.exit(0 if any(arg in repr(r) for r in rows()) or
                 any(arg in repr(c) for c in cur.execute("SELECT * FROM audit_checkpoints")) else 1)
    elif cmd == "update":
        r = get(int(arg))
        json.dump({"op": "update", "row": r}, open(saved, "w"))
        cur.execute("UPDATE audit SET subject = 'mallory' WHERE id = ?", (int(arg),))
    elif cmd == "delete":
        r = get(int(arg))
        json.dump({"op": "delete", "row": r}, open(saved, "w"))
        cur.execute("DELETE FROM audit WHERE id = ?", (int(arg),))
    elif cmd == "forge-middle":
        i = int(arg)
        prev = get(i - 1)
        shift(i, 1)
        forged = [i, prev[1], 0, "root", "mallory", "grant.created", "ok",
                  json.dumps({"grantId": "forged", "scopes": ["everything"]}, separators=(",", ":")), prev[9], ""]
        forged[9] = row_hash(forged)
        insert(forged)
        json.dump({"op": "forge-middle", "id": i}, open(saved, "w"))
    elif cmd == "forge-end":
        last = rows()[-1]
        forged = [last[0] + 1, int(time.time()), 0, "root", "mallory", "grant.created", "ok", "{}",
                  "ab" * 32, "cd" * 32]
        insert(forged)
        json.dump({"op": "forge-end", "id": forged[0]}, open(saved, "w"))
    elif cmd == "swap":
        a, b = get(int(arg)), get(int(arg) + 1)
        cur.execute("DELETE FROM audit WHERE id IN (?, ?)", (a[0], b[0]))
        insert((a[0],) + b[1:])
        insert((b[0],) + a[1:])
        json.dump({"op": "swap", "id": a[0]}, open(saved, "w"))
    elif cmd == "sig":
        (sig,) = cur.execute("SELECT signature FROM audit_checkpoints WHERE row_id = ?", (int(arg),)).fetchone()
        flipped = ("1" if sig[10] == "0" else "0").join([sig[:10], sig[11:]])
        cur.execute("UPDATE audit_checkpoints SET signature = ? WHERE row_id = ?", (flipped, int(arg)))
        json.dump({"op": "sig", "row": int(arg), "signature": sig}, open(saved, "w"))
    elif cmd == "restore":
        s = json.load(open(saved))
        if s["op"] == "update":
            cur.execute("UPDATE audit SET subject = ? WHERE id = ?", (s["row"][4], s["row"][0]))
        elif s["op"] == "delete":
            insert(s["row"])
        elif s["op"] == "forge-middle":
            cur.execute("DELETE FROM audit WHERE id = ?", (s["id"],))
            shift(s["id"] + 1, -1)
        elif s["op"] == "forge-end":
            cur.execute("DELETE FROM audit WHERE id = ?", (s["id"],))
        elif s["op"] == "swap":
            a, b = get(s["id"]), get(s["id"] + 1)
            cur.execute("DELETE FROM audit WHERE id IN (?, ?)", (a[0], b[0]))
            insert((a[0],) + b[1:])
            insert((b[0],) + a[1:])
        elif s["op"] == "sig":
            cur.execute("UPDATE audit_checkpoints SET signature = ? WHERE row_id = ?", (s["signature"], s["row"]))
        os.unlink(saved)
    elif cmd == "age":
        old = int(time.time()) - int(arg) * 86400
        prev = "0" * 64
        for r in rows():
            r = list(r)
            r[1], r[8] = old, prev
            r[9] = row_hash(r)
            cur.execute("UPDATE audit SET time = ?, prev_hash = ?, hash = ? WHERE id = ?", (r[1], r[8], r[9], r[0]))
            prev = r[9]
        cur.execute("DELETE FROM audit_checkpoints")
    else:
        sys.exit("unknown command " + cmd)
    db.commit()


main()
