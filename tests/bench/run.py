#!/usr/bin/python3
"""tests/bench/run.py: `make bench`. Measures enrich against baselines taken
in the same run on the same machine (raw Ed25519, bare PAM stacks, `id`
without enrich) and prints every figure with its ratio, the issue's target
and PASS or MISS; writes the same as JSON to $ENRICH_BUILD/bench.json.

Needs root: it drives real PAM logins, runs a real enrichd on a temporary
socket, creates a throwaway user (eu9-bench-PID) and reads the daemon's
/proc; the fleet section also starts a real etcd (Debian's etcd-server)
on loopback and 100 enrichd hosts. `--quick` runs a short version whose
figures are only a smoke test; the exit status is non-zero only when a
benchmark could not run, never because a target was missed (this machine
is shared and noisy)."""
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD = os.path.abspath(os.environ.get("ENRICH_BUILD", "build"))
BENCH = os.path.join(BUILD, "bench")
SERVICE = "eu9-bench"
SCOPE = "bench:read"


class BenchError(Exception):
    pass


def run_json(args, timeout=900):
    """Runs a bench program; its last stdout line is one JSON object."""
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or not lines:
        raise BenchError("%s failed (status %d): %s %s" % (
            os.path.basename(args[0]) + " " + args[1], p.returncode, p.stderr.strip()[-600:], p.stdout.strip()[-300:]))
    return json.loads(lines[-1])


class Results:
    def __init__(self):
        self.rows = []

    def add(self, section, name, value, unit, baseline=None, base_value=None, ratio=None,
            target=None, ok=None, note="", base_unit=None):
        self.rows.append({
            "section": section, "figure": name, "value": value, "unit": unit,
            "baseline_unit": unit if base_unit is None else base_unit,
            "baseline": baseline, "baseline_value": base_value,
            "ratio": None if ratio is None else round(ratio, 3),
            "target": target,
            "verdict": "" if ok is None else ("PASS" if ok else "MISS"),
            "note": note,
        })

    def na(self, section, name, why):
        self.rows.append({"section": section, "figure": name, "value": None, "unit": "", "baseline_unit": "",
                          "baseline": None, "baseline_value": None, "ratio": None,
                          "target": None, "verdict": "N/A", "note": why})

    def table(self):
        def fmt(v, unit):
            if v is None:
                return "-"
            if isinstance(v, float):
                v = ("%.0f" if abs(v) >= 100 else "%.1f" if abs(v) >= 10 else "%.2f") % v
            return "%s %s" % (v, unit) if unit else str(v)
        head = ("section", "figure", "value", "baseline", "ratio", "target", "verdict")
        body = []
        for r in self.rows:
            base = "-"
            if r["baseline"]:
                base = "%s %s" % (r["baseline"], fmt(r["baseline_value"], r["baseline_unit"])) \
                    if r["baseline_value"] is not None else r["baseline"]
            body.append((r["section"], r["figure"], fmt(r["value"], r["unit"]), base,
                         "-" if r["ratio"] is None else "%.2fx" % r["ratio"], r["target"] or "-",
                         r["verdict"] or "-"))
        widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
        out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
        for b, r in zip(body, self.rows):
            out.append("  ".join(c.ljust(w) for c, w in zip(b, widths)).rstrip())
            if r["note"]:
                out.append("    note: " + r["note"])
        return "\n".join(out)


def die_with_parent():
    """In a child before exec: SIGTERM when run.py dies, even by SIGKILL,
    so no daemon or etcd outlives a killed benchmark."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Instance:
    """A throwaway enrichd: config, state and sockets under one temp folder."""

    def __init__(self, tmp, name="d"):
        self.dir = os.path.join(tmp, name)
        os.makedirs(os.path.join(self.dir, "state"), mode=0o700, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, "io.enrich")
        self.jwks = os.path.join(self.dir, "jwks.json")
        self.userdb_sock = os.path.join(self.dir, "io.enrich.Groups")
        self.db = os.path.join(self.dir, "state", "enrich.db")
        self.conf = os.path.join(self.dir, "enrichd.conf")
        self.log = os.path.join(self.dir, "enrichd.log")
        self.proc = None
        self.claims_ttl = 600

    def write_config(self, n_rules=10, claims_ttl=600, groups="", fleet=""):
        self.claims_ttl = claims_ttl
        rules = ['  { name = "eu9-bench"; match = { services = ["%s"]; };\n'
                 '    grant = { scopes = ["bench:read", "bench:write"]; tenant = "bench"; }; }' % SERVICE]
        for i in range(1, n_rules):
            rules.append('  { name = "filler-%d"; match = { services = ["filler-%d"]; };\n'
                         '    grant = { scopes = ["filler:%d"]; }; }' % (i, i, i))
        with open(self.conf, "w") as f:
            f.write('socket = "%s";\nuserdb_socket = "%s";\njwks = "%s";\nstate_dir = "%s";\n'
                    'issuer = "enrichd@eu9-bench";\nclaims_ttl = %d;\nmax_ttl = 3600;\n%s'
                    'rules = (\n%s\n);\n%s' % (self.sock, self.userdb_sock, self.jwks,
                                               os.path.join(self.dir, "state"), claims_ttl, groups,
                                               ",\n".join(rules), fleet))

    def start(self):
        self.launch()
        self.wait_up()

    def launch(self):
        """Starts enrichd without waiting for it (wait_up waits)."""
        for p in (self.sock, self.jwks):
            if os.path.exists(p):
                os.unlink(p)
        log = open(self.log, "a")
        self.proc = subprocess.Popen([os.path.join(BUILD, "enrichd"), "--config", self.conf, "--foreground"],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        log.close()

    def up(self):
        return os.path.exists(self.sock) and os.path.exists(self.jwks) and os.path.getsize(self.jwks) > 0

    def wait_up(self, seconds=10):
        for _ in range(int(seconds * 20)):
            if self.up():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        with open(self.log) as f:
            tail = f.read()[-1500:]
        self.stop()
        raise BenchError("enrichd did not come up: " + tail)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def serves_userdb(self):
        if not os.path.exists(self.userdb_sock):
            return False
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(self.userdb_sock)
            s.sendall(json.dumps({"method": "io.systemd.UserDatabase.GetMemberships",
                                  "parameters": {"service": os.path.basename(self.userdb_sock)},
                                  "more": True}).encode() + b"\0")
            reply = s.recv(65536)
            return reply.endswith(b"\0") and b"MethodNotFound" not in reply
        except OSError:
            return False
        finally:
            s.close()


def key_users(uid):
    """(keys, bytes) that uid owns, from /proc/key-users."""
    with open("/proc/key-users") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0].rstrip(":") == str(uid):
                return int(parts[3].split("/")[0]), int(parts[4].split("/")[0])
    return 0, 0


def bench_daemon(mode, *args, timeout=900):
    return run_json([os.path.join(BENCH, "bench_daemon"), mode] + [str(a) for a in args], timeout=timeout)


def alternated_logins(*setups, n, rounds=4):
    """bench_login for each setup (argument lists), alternated forward and
    backward (AB BA AB BA, ABC CBA ...; rounds runs of n logins each), so
    that drift on this shared machine falls on every side alike. For each:
    the mean of the runs' medians and p99s, the key GC pauses summed."""
    runs = [[] for _ in setups]
    for i in range(rounds):
        for k in (range(len(setups)) if i % 2 == 0 else reversed(range(len(setups)))):
            runs[k].append(run_json([os.path.join(BENCH, "bench_login")] + setups[k] +
                                    ["--iterations", str(n)], timeout=1800))
    return tuple({"median_us": sum(r["median_us"] for r in runs[k]) / rounds,
                  "p99_us": sum(r["p99_us"] for r in runs[k]) / rounds,
                  "key_gc_wait_ms": sum(r.get("key_gc_wait_ms", 0) for r in runs[k])} for k in range(len(setups)))


def enrich_floor(path, user):
    """bench_daemon's canned-answer server for pam_enrich on path; stopped
    by closing its stdin."""
    p = subprocess.Popen([os.path.join(BENCH, "bench_daemon"), "enrich-floor", "--socket", path, "--user", user],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != '{"ready":true}':
        p.kill()
        raise BenchError("bench_daemon enrich-floor did not start")
    return p


# ---- 1. login path -------------------------------------------------------

def login_path(res, tmp, inst, user, quick):
    pamdir = os.path.join(tmp, "pam.d")
    os.makedirs(pamdir, exist_ok=True)
    hack = os.path.join(tmp, "keyctl-hack.sh")
    with open(hack, "w") as f:
        # What an admin might script instead of pam_enrich: a shell and
        # keyctl per login, adding a (here static) claims blob to @s.
        f.write('#!/bin/sh\n[ "$PAM_TYPE" = open_session ] || exit 0\n'
                'printf "claims-for-%s" "$PAM_USER" | keyctl padd user enrich:claims @s >/dev/null\n')
    os.chmod(hack, 0o755)
    keyinit = "session required pam_keyinit.so force revoke\n"
    floor_sock = os.path.join(tmp, "enrich-floor.sock")
    stacks = {
        "eu9-permit": "session required pam_permit.so\n",
        "eu9-keyinit": keyinit,
        SERVICE: keyinit + "session required %s/pam_enrich.so socket=%s timeout=1500\n" % (BUILD, inst.sock),
        "eu9-floor": keyinit + "session required %s/pam_enrich.so socket=%s timeout=1500\n" % (BUILD, floor_sock),
        "eu9-hack": keyinit + "session required pam_exec.so quiet %s\n" % hack,
    }
    for name, text in stacks.items():
        with open(os.path.join(pamdir, name), "w") as f:
            f.write("auth required pam_permit.so\naccount required pam_permit.so\n" + text)
    n = 200 if quick else 2000
    uid = int(subprocess.check_output(["id", "-u", user]).strip())
    before = key_users(uid), key_users(0)
    def args(name):
        return ["--confdir", pamdir, "--service", name, "--user", user] + (["--expect-key"] if name in
                                                                             (SERVICE, "eu9-floor") else [])
    out = {}
    for name in ("eu9-permit", "eu9-hack"):
        out[name] = run_json([os.path.join(BENCH, "bench_login")] + args(name) +
                             ["--iterations", str(n if name != "eu9-hack" else (50 if quick else 2000))], timeout=1800)
    # What pam_enrich adds is a difference of two figures: pam_keyinit
    # alone and with pam_enrich run alternated, so load that comes and
    # goes on this shared machine weighs on both.
    # The module's floor: pam_enrich against a server that only writes a
    # token into the key and answers, alternated with the other two.
    floor = enrich_floor(floor_sock, user)
    try:
        out["eu9-keyinit"], out["eu9-floor"], out[SERVICE] = alternated_logins(
            args("eu9-keyinit"), args("eu9-floor"), args(SERVICE), n=n // 4)
    finally:
        floor.stdin.close()
        floor.wait(timeout=20)
    for name, label in (("eu9-permit", "pam_permit"), ("eu9-keyinit", "pam_keyinit"),
                        ("eu9-floor", "pam_keyinit+pam_enrich, canned-answer server"),
                        (SERVICE, "pam_keyinit+pam_enrich"), ("eu9-hack", "pam_keyinit+pam_exec hack")):
        iters = n if name != "eu9-hack" else (50 if quick else 2000)
        res.add("login", "%s median (%d logins%s)" % (label, iters, ", 4 runs alternated" if name in
                                                      ("eu9-keyinit", "eu9-floor", SERVICE) else ""),
                out[name]["median_us"], "us")
        res.add("login", "%s p99" % label, out[name]["p99_us"], "us",
                note=("paused %d ms (untimed) for the kernel's key GC to free revoked keyrings" %
                      out[name]["key_gc_wait_ms"]) if out[name].get("key_gc_wait_ms") else "")
    after = key_users(uid), key_users(0)
    # Issue 15's targets: what pam_enrich adds to pam_keyinit, median and
    # p99, and the speed-up over the pam_exec hack on what each adds.
    keyinit = out["eu9-keyinit"]
    added = out[SERVICE]["median_us"] - keyinit["median_us"]
    res.add("login", "pam_enrich added median", added, "us", "pam_keyinit", keyinit["median_us"],
            ratio=out[SERVICE]["median_us"] / keyinit["median_us"], target="<= +150 us", ok=added <= 150)
    added_p99 = out[SERVICE]["p99_us"] - keyinit["p99_us"]
    res.add("login", "pam_enrich added p99", added_p99, "us", "pam_keyinit p99", keyinit["p99_us"],
            ratio=out[SERVICE]["p99_us"] / keyinit["p99_us"], target="<= +600 us", ok=added_p99 <= 600)
    floor_added = out["eu9-floor"]["median_us"] - keyinit["median_us"]
    res.add("login", "pam_enrich added median, canned-answer server (the module's floor)", floor_added, "us",
            "pam_keyinit", keyinit["median_us"], ratio=out["eu9-floor"]["median_us"] / keyinit["median_us"],
            note="a server that only writes a token into the key and answers (no policy, signature or storage): "
                 "what the module costs a login with any daemon; the +150 us target leaves enrichd %.0f us" %
                 (150 - floor_added))
    speedup = (out["eu9-hack"]["median_us"] - keyinit["median_us"]) / max(added, 1)
    res.add("login", "speed-up over the hack, on what each adds", speedup, "x", "hack adds",
            out["eu9-hack"]["median_us"] - keyinit["median_us"], ratio=speedup, base_unit="us", target=">= 40x",
            ok=speedup >= 40)
    res.add("login", "keys left behind (user, root)", "%+d, %+d" % (after[0][0] - before[0][0],
                                                                    after[1][0] - before[1][0]), "",
            note="from /proc/key-users before and after all logins; revoked keys linger until the "
                 "kernel's key GC (gc_delay)")


# ---- 2. throughput -------------------------------------------------------

def throughput(res, inst, user, quick):
    ms = 400 if quick else 3000
    sign = bench_daemon("sign", "--ms", ms)
    res.add("throughput", "raw Ed25519 sign rate, one core", sign["per_s"], "/s",
            note="EVP_DigestSign in this run, per CPU second of one thread")
    for clients in (1, 4, 16, 64):
        r = bench_daemon("enrich", "--socket", inst.sock, "--user", user, "--service", SERVICE,
                         "--clients", clients, "--ms", ms, "--max-calls", 60000 if not quick else 5000,
                         "--daemon-pid", inst.pid)
        ratio = r["per_s"] / sign["per_s"]
        per_cpu = r["calls"] / r["daemon_cpu_s"] if r["daemon_cpu_s"] > 0 else 0
        share = r["generator_cpu_s"] / (r["wall_s"] * (os.cpu_count() or 1))
        daemon_share = r["daemon_cpu_s"] / (r["wall_s"] * (os.cpu_count() or 1))
        note = ("latency median %.0f us, p99 %.0f us; the load generator used %.0f%% and the daemon %.0f%% "
                "of the %d cores; per daemon CPU second %.0f calls (%.2fx the sign rate)" % (
                    r["median_us"], r["p99_us"], 100 * share, 100 * daemon_share, os.cpu_count() or 1,
                    per_cpu, per_cpu / sign["per_s"]))
        if r["clients_failed"]:
            note += "; %d of %d clients were refused or failed (%s)" % (
                r["clients_failed"], clients,
                os.strerror(-r["first_error"]) if r["first_error"] < 0 else r["first_error"])
        res.add("throughput", "Enrich calls/s, %d clients" % clients, r["per_s"], "/s", "sign rate",
                sign["per_s"], ratio=ratio, target=">= 0.6x" if clients == 16 else None,
                ok=(ratio >= 0.6) if clients == 16 else None, note=note)


# ---- 3. verification -----------------------------------------------------

def verification(res, inst, quick):
    ms = 300 if quick else 2000
    r = bench_daemon("claims", "--socket", inst.sock, "--jwks", inst.jwks, "--service", SERVICE,
                     "--scope", SCOPE, "--ms", ms)
    raw = r["raw_verify_us"]
    res.add("verify", "cache safety checks", r["cache_safety"], "",
            note="right after warm loads: a rewritten JWKS, a forged payload, a revoked and an expired key "
                 "each fail the very next load")
    res.add("verify", "raw Ed25519 verify of the token", raw, "us", note="EVP_DigestVerify, same token and key")
    res.add("verify", "claims load + has_scope, cold", r["cold_median_us"], "us", "raw verify", raw,
            ratio=r["cold_median_us"] / raw, target="<= 1.15x", ok=r["cold_median_us"] / raw <= 1.15,
            note="p99 %.0f us; the key's payload changes before each call, so nothing is cached; "
                 "first call in a fresh process %.0f us" % (r["cold_p99_us"], r["first_us"]))
    res.add("verify", "claims load + has_scope, warm", r["warm_median_us"], "us", "raw verify", raw,
            ratio=r["warm_median_us"] / raw, target="<= 5 us", ok=r["warm_median_us"] <= 5,
            note="p99 %.1f us" % r["warm_p99_us"])


# ---- 4. scale -------------------------------------------------------------

GRANTS_SQL = """
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {others})
INSERT INTO grants (id, user, uid, groups, scopes, tenant, reason, granted_by, granted_by_uid, created, expires)
SELECT printf('eu9-%08d', i), printf('eu9-other-%d', i % 20000), 70000 + i % 20000, '[]',
       printf('["other:%d"]', i % 100), NULL, 'bench', 'root', 0, {now}, {now} + 2592000 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {mine})
INSERT INTO grants (id, user, uid, groups, scopes, tenant, reason, granted_by, granted_by_uid, created, expires)
SELECT printf('eu9-own-%d', i), '{user}', {uid}, '[]', printf('["jit:%d"]', i), NULL, 'bench', 'root', 0,
       {now}, {now} + 2592000 FROM n;
UPDATE meta SET value = value + 1 WHERE name = 'grants_generation';
COMMIT;
"""


def enrich_latency(inst, user, ms):
    r = bench_daemon("enrich", "--socket", inst.sock, "--user", user, "--service", SERVICE,
                     "--clients", 1, "--ms", ms, "--max-calls", 20000)
    return r["median_us"], r["p99_us"]


def scale(res, tmp, user, quick):
    ms = 300 if quick else 2000
    uid = int(subprocess.check_output(["id", "-u", user]).strip())
    sizes = (10, 10000) if quick else (10, 10000, 1000000)
    lat = {}
    for size in sizes:
        inst = Instance(tmp, "grants-%d" % size)
        inst.write_config()
        inst.start()      # creates the database and runs its migrations
        inst.stop()
        t0 = time.time()
        sql = GRANTS_SQL.format(others=max(size - 5, 1), mine=5, now=int(time.time()), user=user, uid=uid)
        subprocess.run(["sqlite3", inst.db], input=sql, text=True, check=True, stdout=subprocess.DEVNULL)
        built = time.time() - t0
        inst.start()
        try:
            lat[size] = enrich_latency(inst, user, ms)
            rss = bench_daemon_rss(inst.pid)
        finally:
            inst.stop()
        small = lat[sizes[0]][0]
        last = size == sizes[-1]
        res.add("scale", "Enrich latency, %s grants" % format(size, ","), lat[size][0], "us",
                "10 grants", small, ratio=lat[size][0] / small,
                target="<= 2x" if last and size != sizes[0] else None,
                ok=(lat[size][0] / small <= 2) if last and size != sizes[0] else None,
                note="p99 %.0f us; database built in %.1f s; daemon RSS %.1f MiB" % (lat[size][1], built, rss / 1024))
        shutil.rmtree(inst.dir, ignore_errors=True)
    rl = {}
    for n_rules in (10, 1000):
        inst = Instance(tmp, "rules-%d" % n_rules)
        inst.write_config(n_rules=n_rules)
        inst.start()
        try:
            rl[n_rules] = enrich_latency(inst, user, ms)
        finally:
            inst.stop()
        shutil.rmtree(inst.dir, ignore_errors=True)
        res.add("scale", "Enrich latency, %d rules" % n_rules, rl[n_rules][0], "us", "10 rules", rl[10][0],
                ratio=rl[n_rules][0] / rl[10][0], target="<= 2x" if n_rules == 1000 else None,
                ok=(rl[n_rules][0] / rl[10][0] <= 2) if n_rules == 1000 else None,
                note="p99 %.0f us" % rl[n_rules][1])
    count = 1000 if quick else 10000
    inst = Instance(tmp, "sessions")
    inst.write_config()
    inst.start()
    try:
        r = bench_daemon("sessions", "--socket", inst.sock, "--user", user, "--service", SERVICE,
                         "--count", count, "--daemon-pid", inst.pid, timeout=1800)
    finally:
        inst.stop()
    shutil.rmtree(inst.dir, ignore_errors=True)
    mib = r["rss_kib"] / 1024
    res.add("scale", "daemon RSS, %s live sessions" % format(count, ","), mib, "MiB", "idle daemon",
            r["rss_before_kib"] / 1024, ratio=mib / 32, base_unit="MiB", target="<= 32 MiB", ok=mib <= 32,
            note="ratio is against the 32 MiB target")
    res.add("scale", "refresh cycle, %s sessions" % format(count, ","), r["refresh_wall_s"], "s",
            "claims_ttl", inst.claims_ttl, ratio=r["refresh_wall_s"] / inst.claims_ttl,
            base_unit="s",
            target="<= 1x claims_ttl", ok=r["refresh_wall_s"] <= inst.claims_ttl,
            note="daemon CPU %.2f s (utime+stime), %d keys re-issued in place" % (r["refresh_cpu_s"], r["refreshed"]))


AUDIT_SQL = """
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
INSERT INTO audit (id, time, actor_uid, actor_name, subject, action, result, details, prev_hash, hash)
SELECT {first} + i, {now} - {rows} + i, 1000 + i % 50, printf('eu9-u%d', i % 50), printf('eu9-u%d', i % 50),
       CASE i % 3 WHEN 0 THEN 'grant.created' WHEN 1 THEN 'enrich.issued' ELSE 'permission.denied' END,
       'ok', '{{"method":"io.enrich.Grant","reason":"bench"}}',
       CASE i WHEN 1 THEN (SELECT hash FROM audit WHERE id = {first}) ELSE printf('%064d', i - 1) END,
       printf('%064d', i) FROM n;
COMMIT;
"""


def audit_list(res, tmp, quick):
    """AuditList with limit 1 on a big trail against a 10-row one: every
    filter reads through an index, so the ratio stays near 1."""
    ms = 300 if quick else 2000
    big = 100000 if quick else 1000000
    calls = (("limit 1", {"limit": 1}),
             ("limit 1, oldest first", {"limit": 1, "afterId": 0}),
             ("limit 1, user with no rows", {"limit": 1, "user": "eu9-nobody"}),
             ("limit 1, action + since", {"limit": 1, "action": "grant.created", "since": int(time.time()) - 60}))
    lat = {}
    insts = {}
    try:
        for size in (10, big):
            inst = insts[size] = Instance(tmp, "audit-%d" % size)
            inst.write_config()
            inst.start()      # migrations, and a first row (the shutdown checkpoint)
            inst.stop()
            t0 = time.time()
            first = int(subprocess.check_output(["sqlite3", inst.db,
                                                 "SELECT coalesce(max(id), 0) FROM audit"]).strip())
            subprocess.run(["sqlite3", inst.db], input=AUDIT_SQL.format(rows=size, first=first, now=int(time.time())),
                           text=True, check=True, stdout=subprocess.DEVNULL)
            lat[size] = time.time() - t0
            inst.start()
        # Both trails served at once, each call timed in alternated runs
        # (small, big, big, small, ...), so that load that comes and goes
        # on this shared machine weighs on both sides of the ratio.
        for name, params in calls:
            runs = {10: [], big: []}
            for i in range(8):
                size = (10, big, big, 10)[i % 4]
                runs[size].append(bench_daemon("auditlist", "--socket", insts[size].sock, "--params",
                                               json.dumps(params), "--ms", ms // 4))
            for size in (10, big):
                lat[(size, name)] = (sum(r["median_us"] for r in runs[size]) / 4,
                                     sum(r["p99_us"] for r in runs[size]) / 4, lat[size])
    finally:
        # Linked but unhashed rows: the shutdown checkpoint refuses them
        # after one read of the rows since the last checkpoint.
        for inst in insts.values():
            inst.stop()
            shutil.rmtree(inst.dir, ignore_errors=True)
    for name, _ in calls:
        small, large = lat[(10, name)][0], lat[(big, name)][0]
        res.add("audit", "AuditList %s, %s rows" % (name, format(big, ",")), large, "us", "10 rows", small,
                ratio=large / small, target="<= 2x", ok=large / small <= 2,
                note="p99 %.0f us; trail built in %.1f s" % (lat[(big, name)][1], lat[(big, name)][2]))


def bench_daemon_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---- 5. userdb -------------------------------------------------------------

USERDB_DIR = "/run/systemd/userdb"


def time_id(user, n):
    t0 = time.time()
    subprocess.run(["sh", "-c", 'i=0; while [ $i -lt %d ]; do id "$1" >/dev/null || exit 1; i=$((i+1)); done' % n,
                    "sh", user], check=True)
    return (time.time() - t0) / n * 1e6


# Two time-bound groups; the bench user is granted one, so `id` and
# GetMemberships have a membership to find.
USERDB_GROUPS = ('groups = ( { name = "eu9-jit"; gid = 61990; }, '
                 '{ name = "eu9-idle"; gid = 61991; } );\n')


# What nss-systemd asks a userdb socket for one `id USER` of a member of one
# served group: GetMemberships(userName), GetGroupRecord(groupName) (from
# initgroups), GetGroupRecord(gid) and GetMemberships(groupName) (getgrgid),
# each on a connection of its own.
USERDB_CALLS_PER_ID = 4


def userdb_floor(path, name, user, n):
    """`id user` timed while bench_daemon's canned-answer server answers on path."""
    p = subprocess.Popen([os.path.join(BENCH, "bench_daemon"), "userdb-floor", "--socket", path, "--service", name,
                          "--user", user, "--group", "eu9-jit", "--gid", "61990"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if p.stdout.readline().strip() != '{"ready":true}':
            raise BenchError("bench_daemon userdb-floor did not start")
        return time_id(user, n)
    finally:
        p.stdin.close()
        p.wait(timeout=20)
        if os.path.exists(path):
            os.unlink(path)


def grant_group(inst, user):
    subprocess.run([os.path.join(BUILD, "enrichctl"), "--socket", inst.sock, "grant", user,
                    "--group", "eu9-jit", "--ttl", "1h", "--reason", "eu9 bench"],
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def userdb(res, tmp, user, quick):
    n = 100 if quick else 1000
    inst = Instance(tmp, "userdb")
    inst.write_config(groups=USERDB_GROUPS)
    inst.start()
    try:
        if not inst.serves_userdb():
            for f in ("GetMemberships latency", "`id USER` with enrich / without"):
                res.na("userdb", f, "not available yet: this enrichd does not serve %s" % inst.userdb_sock)
            return
        grant_group(inst, user)
        r = bench_daemon("userdb", "--socket", inst.userdb_sock, "--service",
                         os.path.basename(inst.userdb_sock), "--ms", 300 if quick else 2000)
        res.add("userdb", "GetMemberships latency median", r["median_us"], "us",
                note="p99 %.0f us, %.1f records per call" % (r["p99_us"], r["records"] / max(r["calls"], 1)))
    finally:
        inst.stop()
        shutil.rmtree(inst.dir, ignore_errors=True)
    # `id` goes through nss-systemd, which asks every socket in USERDB_DIR:
    # run a daemon whose userdb socket lives there, under a name of ours.
    made_dir = not os.path.isdir(USERDB_DIR)
    os.makedirs(USERDB_DIR, exist_ok=True)
    name = "eu9-bench-%d.Groups" % os.getpid()
    path = os.path.join(USERDB_DIR, name)
    inst = Instance(tmp, "userdb-id")
    inst.userdb_sock = path
    inst.write_config(groups=USERDB_GROUPS)
    # The three ways are timed in interleaved rounds (the order turning
    # each round), not one block after another: load from other users of
    # the machine changes between blocks by more than the effect measured.
    rounds = 4 if quick else 10
    per = max(n // rounds, 1)
    times = {"without": [], "floor": [], "enrich": []}
    granted = False
    try:
        for r in range(rounds):
            order = ["without", "floor", "enrich"]
            order = order[r % 3:] + order[:r % 3]
            if r % 2:
                order.reverse()
            for way in order:
                if way == "without":
                    times[way].append(time_id(user, per))
                elif way == "floor":
                    times[way].append(userdb_floor(path, name, user, per))
                else:
                    inst.start()
                    try:
                        if not granted:
                            grant_group(inst, user)
                            granted = True
                        shown = subprocess.run(["id", user], stdout=subprocess.PIPE, text=True).stdout
                        if "eu9-jit" not in shown:
                            raise BenchError("`id %s` does not show the granted group eu9-jit: %s" %
                                             (user, shown.strip()))
                        times[way].append(time_id(user, per))
                    finally:
                        inst.stop()
                        if os.path.exists(path):
                            os.unlink(path)
    finally:
        if os.path.exists(path):
            os.unlink(path)
        if made_dir:
            try:
                os.rmdir(USERDB_DIR)    # only if still empty: others may use it now
            except OSError:
                pass
        shutil.rmtree(inst.dir, ignore_errors=True)
    without = statistics.median(times["without"])
    floor = statistics.median(times["floor"])
    with_enrich = statistics.median(times["enrich"])
    floor_ratio = statistics.median(f / w for f, w in zip(times["floor"], times["without"]))
    enrich_ratio = statistics.median(e / w for e, w in zip(times["enrich"], times["without"]))
    n = per * rounds
    res.add("userdb", "`id USER` with a canned-answer userdb server (x%d)" % n, floor, "us", "without", without,
            ratio=floor_ratio,
            note="median of %d interleaved rounds of %d; the floor: answers from constants, no work per call; what nss-systemd's %d calls per `id` "
                 "cost any userdb service" % (rounds, per, USERDB_CALLS_PER_ID))
    res.add("userdb", "`id USER` with enrich's userdb socket (x%d)" % n, with_enrich, "us", "without", without,
            ratio=enrich_ratio, target="<= 1.2x", ok=enrich_ratio <= 1.2,
            note="median of %d interleaved rounds of %d, each against the `id` without of its round; "
                 "%.2fx the canned-answer floor" % (rounds, per, statistics.median(
                     e / f for e, f in zip(times["enrich"], times["floor"]))))


# ---- 6. flood ---------------------------------------------------------------

FLOOD_CONNECTIONS = 32


def flood(res, tmp, user, quick):
    """Root's login path and root's Status while one unprivileged uid floods
    the daemon from 32 connections (each writing 1,250 refused Grant calls
    in one 60 KB write, again and again), beside the same figures unflooded
    (the baseline, same daemon, same run)."""
    window = 2500 if quick else 10000
    base_ms = 500 if quick else 3000
    inst = Instance(tmp, "flood")
    inst.write_config()
    pamdir = os.path.join(tmp, "pam-flood")
    os.makedirs(pamdir, exist_ok=True)
    with open(os.path.join(pamdir, SERVICE), "w") as f:
        f.write("auth required pam_permit.so\naccount required pam_permit.so\n"
                "session required pam_keyinit.so force revoke\n"
                "session required %s/pam_enrich.so socket=%s timeout=1500\n" % (BUILD, inst.sock))
    uid = int(subprocess.check_output(["id", "-u", user]).strip())
    gid = int(subprocess.check_output(["id", "-g", user]).strip())

    def logins(ms):
        # --count-failures: a login that fell back to fail=open (no key) is
        # counted, not fatal; under a flood that is the figure.
        return run_json([os.path.join(BENCH, "bench_login"), "--confdir", pamdir, "--service", SERVICE,
                         "--user", user, "--iterations", "100000", "--warmup", "3", "--expect-key",
                         "--max-ms", str(ms), "--count-failures"], timeout=ms / 1000 + 120)

    inst.start()
    try:
        base_status = bench_daemon("flood", "--socket", inst.sock, "--clients", 0, "--ms", base_ms)
        base_login = logins(base_ms)
        gen = subprocess.Popen([os.path.join(BENCH, "bench_daemon"), "flood", "--socket", inst.sock,
                                "--clients", str(FLOOD_CONNECTIONS), "--flood-uid", str(uid),
                                "--flood-gid", str(gid), "--ms", str(window)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(0.4)
            login = logins(window - 900)
        finally:
            # Closing its stdin ends the Status loop and the flood.
            out, err = gen.communicate(timeout=window / 1000 + 120)
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if gen.returncode != 0 or not lines:
            raise BenchError("bench_daemon flood failed (status %d): %s" % (gen.returncode, err.strip()[-600:]))
        status = json.loads(lines[-1])
    finally:
        inst.stop()
        shutil.rmtree(inst.dir, ignore_errors=True)
    served = status["flood_replies"] / status["wall_s"] if status["wall_s"] else 0
    flood_note = ("%d connections of one unprivileged uid; the daemon answered %.0f refused Grant calls/s "
                  "to them" % (FLOOD_CONNECTIONS, served))
    st_ms, st_base = status["p99_us"] / 1000, base_status["p99_us"] / 1000
    res.add("flood", "root Status p99, flooded", st_ms, "ms", "unflooded p99", st_base,
            ratio=st_ms / st_base if st_base else None, target="<= 50 ms", ok=st_ms <= 50 and not status["failures"],
            note="median %.1f ms (unflooded %.1f ms), max %.0f ms, %d calls, %d failed; %s" % (
                status["median_us"] / 1000, base_status["median_us"] / 1000, status["max_us"] / 1000,
                status["calls"], status["failures"], flood_note))
    lg_ms, lg_base = login["p99_us"] / 1000, base_login["p99_us"] / 1000
    res.add("flood", "root PAM login with claims p99, flooded", lg_ms, "ms", "unflooded p99", lg_base,
            ratio=lg_ms / lg_base if lg_base else None, target="<= 50 ms, all with claims",
            ok=lg_ms <= 50 and not login["failures"],
            note="median %.1f ms (unflooded %.1f ms), max %.0f ms; %d logins, %d without claims "
                 "(fail=open after the 1500 ms timeout; unflooded: %d of %d)" % (
                     login["median_us"] / 1000, base_login["median_us"] / 1000, login["max_us"] / 1000,
                     login["iterations"], login["failures"], base_login["failures"], base_login["iterations"]))


# ---- 7. fleet ----------------------------------------------------------------

ETCD = "/usr/bin/etcd"
FLEET_PREFIX = "/eu9-bench/"
WATCH_PREFIX = "/eu9-bench-watch/"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Etcd:
    """One etcd node on two free loopback ports, its data in tmp."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "etcd")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.endpoint = "http://127.0.0.1:%d" % free_port()
        self.proc = None

    def start(self):
        peer = "http://127.0.0.1:%d" % free_port()
        log = open(os.path.join(self.dir, "etcd.log"), "a")
        # Every watcher is a long HTTP/1.1 response of the JSON gateway,
        # which carries it to the server as one more gRPC stream on one
        # connection: allow as many streams as there are watchers (this
        # is etcd 3.4's default, spelled out in case a newer one lowers it).
        self.proc = subprocess.Popen([ETCD, "--name", "eu9-bench", "--data-dir", os.path.join(self.dir, "data"),
                                      "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
                                      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                      "--initial-cluster", "eu9-bench=" + peer, "--initial-cluster-state", "new",
                                      "--max-concurrent-streams", "4294967295"],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        log.close()
        for _ in range(100):
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=2) as answer:
                    if json.load(answer).get("health") == "true":
                        return
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        with open(os.path.join(self.dir, "etcd.log")) as f:
            raise BenchError("etcd did not come up: " + f.read()[-1000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def fleet_group(etcd, tmp, host_id, labels):
    return ('fleet = {\n  endpoints = [ "%s" ];\n  prefix = "%s";\n  host_id = "%s";\n  labels = [ %s ];\n'
            '  issuers = "%s";\n};\n' % (etcd.endpoint, FLEET_PREFIX, host_id,
                                         ", ".join('"%s"' % l for l in labels), os.path.join(tmp, "issuers.jwks")))


def bench_fleet(mode, *args, timeout=600):
    return run_json([os.path.join(BENCH, "bench_fleet"), mode] + [str(a) for a in args], timeout=timeout)


def fleet_status(inst):
    p = subprocess.run([os.path.join(BUILD, "enrichctl"), "--socket", inst.sock, "fleet", "status", "--json"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=10)
    try:
        return json.loads(p.stdout) if p.returncode == 0 else {}
    except ValueError:
        return {}


def pss_kib(pid):
    """Proportional set size: the libraries shared by many daemons counted
    once, split among them; what each more process costs the machine."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def stop_all(insts):
    """SIGTERM to all, then waits for each: 100 daemons stop together."""
    for i in insts:
        if i.proc and i.proc.poll() is None:
            i.proc.send_signal(signal.SIGTERM)
    for i in insts:
        i.stop()


def fleet_login(res, tmp, etcd, user, quick):
    """PAM logins against an enrichd without a fleet group and one with a
    fleet group on etcd holding a fleet grant of the user, alternated."""
    off, on = Instance(tmp, "fleet-off"), Instance(tmp, "fleet-on")
    off.write_config()
    on.write_config(fleet=fleet_group(etcd, tmp, "eu9-login", ["bench"]))
    bench_fleet("grant", "--endpoint", etcd.endpoint, "--prefix", FLEET_PREFIX, "--key",
                os.path.join(tmp, "issuer.pem"), "--user", user, "--scope", "fleet:login", "--id",
                "eu9-%d-login" % os.getpid())
    dirs = {}
    for inst in (off, on):
        d = os.path.join(tmp, "pam-" + os.path.basename(inst.dir))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, SERVICE), "w") as f:
            f.write("auth required pam_permit.so\naccount required pam_permit.so\n"
                    "session required pam_keyinit.so force revoke\n"
                    "session required %s/pam_enrich.so socket=%s timeout=1500\n" % (BUILD, inst.sock))
        dirs[inst] = d
    n = 50 if quick else 250
    try:
        off.start()
        on.start()
        for _ in range(100):
            st = fleet_status(on)
            if st.get("connected") and st.get("fleetGrants", 0) >= 1:
                break
            time.sleep(0.1)
        else:
            raise BenchError("the fleet enrichd did not apply the fleet grant: %s" % fleet_status(on))
        rss_off, rss_on = bench_daemon_rss(off.pid), bench_daemon_rss(on.pid)
        got = alternated_logins(*(["--confdir", dirs[inst], "--service", SERVICE, "--user", user, "--expect-key"]
                                  for inst in (off, on)), n=n)
        st = fleet_status(on)
    finally:
        stop_all([off, on])
    med = {i: got[k]["median_us"] for k, i in enumerate((off, on))}
    p99 = {i: got[k]["p99_us"] for k, i in enumerate((off, on))}
    res.add("fleet", "login median, fleet mode on (%d logins)" % (4 * n), med[on], "us", "fleet off", med[off],
            ratio=med[on] / med[off], target="<= 1.1x", ok=med[on] / med[off] <= 1.1,
            note="p99 %.0f us on, %.0f us off (means of 4 runs of %d each, alternated off, on, on, off, ...); the "
                 "fleet daemon was connected to etcd and held %d fleet grant(s) of the user" % (
                     p99[on], p99[off], n, st.get("fleetGrants", 0)))
    return rss_off, rss_on


def fleet(res, tmp, user, quick, n_hosts=None):
    if not os.access(ETCD, os.X_OK):
        res.na("fleet", "fleet section", "needs Debian's etcd-server (%s)" % ETCD)
        return
    hosts_default, n_watchers, rounds = (10, 100, 5) if quick else (100, 1000, 20)
    n_hosts = n_hosts or hosts_default
    # One connection per watcher, in bench_fleet and in etcd, which
    # inherits this limit.
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < n_watchers + 200:
        n_watchers = max(10, hard - 200)
    etcd = Etcd(tmp)
    etcd.start()
    hosts = []
    try:
        bench_fleet("keygen", "--key", os.path.join(tmp, "issuer.pem"), "--jwks", os.path.join(tmp, "issuers.jwks"))
        rss_off, rss_on = fleet_login(res, tmp, etcd, user, quick)

        # n_hosts enrichd processes, each its own config, state, sockets,
        # host id and labels, one etcd node for all.
        t0 = time.time()
        for i in range(n_hosts):
            inst = Instance(tmp, "fleet-h%03d" % i)
            inst.write_config(fleet=fleet_group(etcd, tmp, "eu9-h%03d" % i, ["bench", "rack-%d" % (i % 10)]))
            hosts.append(inst)
            inst.launch()
        for inst in hosts:
            inst.wait_up(seconds=max(1, 10 + 0.1 * n_hosts - (time.time() - t0)))
        started = time.time() - t0
        rss = sorted(bench_daemon_rss(h.pid) for h in hosts)
        pss = sorted(pss_kib(h.pid) for h in hosts)
        sockets = os.path.join(tmp, "fleet-sockets")
        with open(sockets, "w") as f:
            f.write("".join("%s %d\n" % (h.sock, h.pid) for h in hosts))
        r = bench_fleet("hosts", "--endpoint", etcd.endpoint, "--prefix", FLEET_PREFIX, "--key",
                        os.path.join(tmp, "issuer.pem"), "--user", user, "--service", SERVICE, "--sockets", sockets,
                        "--rounds", rounds, "--timeout-ms", 5000, timeout=240)
        rss_live = sorted(bench_daemon_rss(h.pid) for h in hosts)
        stop_all(hosts)
        hosts = []
        w = bench_fleet("watch", "--endpoint", etcd.endpoint, "--prefix", WATCH_PREFIX, "--key",
                        os.path.join(tmp, "issuer.pem"), "--issuers", os.path.join(tmp, "issuers.jwks"),
                        "--watchers", n_watchers, "--rounds", rounds, "--timeout-ms", 5000, timeout=180)
    finally:
        stop_all(hosts)
        etcd.stop()
    what = "%d enrichd hosts" % n_hosts
    for kind in ("revoke", "grant"):
        s = r[kind]
        missing = " %d keys never changed within 5 s;" % s["missing"] if s["missing"] else ""
        res.add("fleet", "fleet %s -> live claims key, %s, median" % (kind, what), s["median_ms"], "ms",
                note="%d samples (%d events x %d hosts); from the write leaving for etcd to the key's new "
                     "payload, so the write's own round trip is included (median %.1f ms)" % (
                         s["samples"], rounds, n_hosts, r["write"]["median_ms"]))
        res.add("fleet", "fleet %s -> live claims key, %s, p99" % (kind, what), s["p99_ms"], "ms", "1 s target",
                1000, ratio=s["p99_ms"] / 1000, base_unit="ms", target="<= 1000 ms",
                ok=s["p99_ms"] <= 1000 and not s["missing"],
                note="max %.0f ms;%s each host: etcd watch, verify, store, re-issue the key in place" % (
                    s["max_ms"], missing))
    for kind in ("revoke", "grant"):
        s, base = w[kind], r[kind]
        missing = "; %d deliveries missing after 5 s" % s["missing"] if s["missing"] else ""
        res.add("fleet", "fleet %s -> decoded, %d light watchers, median" % (kind, n_watchers), s["median_ms"], "ms",
                "%d hosts' keys" % n_hosts, base["median_ms"], ratio=s["median_ms"] / max(base["median_ms"], 0.01),
                note="%d samples; each watcher a thread of bench_fleet with its own etcd connection running "
                     "enrichd's etcd_watch, fleet_record_verify and fleet_record_grant (%d records verified, "
                     "%d rejected); watches created in %.1f s" % (s["samples"], w["decoded"], w["rejected"],
                                                                  w["ready_s"]))
        res.add("fleet", "fleet %s -> decoded, %d light watchers, p99" % (kind, n_watchers), s["p99_ms"], "ms",
                "%d hosts' keys p99" % n_hosts, base["p99_ms"], ratio=s["p99_ms"] / max(base["p99_ms"], 0.01),
                target="<= 1000 ms", ok=s["p99_ms"] <= 1000 and not s["missing"],
                note="max %.0f ms%s" % (s["max_ms"], missing))
    cores = os.cpu_count() or 1
    med, med_pss = rss[len(rss) // 2], pss[len(pss) // 2]
    res.add("fleet", "enrichd RSS, fleet mode, idle (median of %d)" % n_hosts, med / 1024, "MiB",
            "fleet off", rss_off / 1024, ratio=med / max(rss_off, 1),
            note="max %.1f MiB; PSS %.1f MiB (the shared libraries split among the %d); %.1f MiB with a live "
                 "session after the rounds; the login section's fleet-on daemon %.1f MiB; %d hosts up in %.1f s" % (
                     rss[-1] / 1024, med_pss / 1024, n_hosts, rss_live[len(rss_live) // 2] / 1024, rss_on / 1024,
                     n_hosts, started))
    res.add("fleet", "enrichd CPU per fleet event, per host", r["cpu_ms_per_host_event"], "ms",
            note="the %d daemons' CPU over the timed rounds less their idle CPU (%.2f%% of a core each: heartbeats, "
                 "ticks), per host and per grant or revoke: watch, verify, store, re-issue. 1,000 enrichd would "
                 "fit in memory here (%.1f GiB by PSS) but, sharing %d cores, need %.0f ms of CPU per event before "
                 "the last key could change: the figure would be this machine's, not the fleet's, so the 1,000 are "
                 "light watchers" % (n_hosts, 100 * r["idle_cpu_per_host"], med_pss * 1000 / 2 ** 20, cores,
                                     r["cpu_ms_per_host_event"] * 1000 / cores))


# ---- main ------------------------------------------------------------------

def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return "%s, %d cores, %.0f GiB, Linux %s, %s" % (model, os.cpu_count() or 0, mem, platform.release(),
                                                      subprocess.run(["openssl", "version"], stdout=subprocess.PIPE,
                                                                     text=True).stdout.strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short version (CI smoke test)")
    ap.add_argument("--only", help="comma-separated sections: login,throughput,verify,scale,userdb,audit,flood,fleet")
    ap.add_argument("--fleet-hosts", type=int, help="enrichd processes of the fleet section (default 100, "
                                                      "QUICK 10)")
    ap.add_argument("--json", default=os.path.join(BUILD, "bench.json"))
    opts = ap.parse_args()
    # A SIGTERM unwinds like an error: every section's finally stops its
    # processes, and main's removes the user and the temp folder.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: terminated"))
    if os.geteuid() != 0:
        print("bench: needs root (PAM logins, a real enrichd, a throwaway user); nothing measured")
        return 0
    for tool in ("bench_login", "bench_daemon", "bench_fleet"):
        if not os.access(os.path.join(BENCH, tool), os.X_OK):
            print("bench: %s/%s is missing; run make bench" % (BENCH, tool))
            return 1
    sections = (opts.only or "login,throughput,verify,scale,userdb,audit,flood,fleet").split(",")
    res = Results()
    tmp = tempfile.mkdtemp(prefix="eu9-bench.")
    os.chmod(tmp, 0o755)
    user = "eu9-bench-%d" % os.getpid()
    failed = []
    created = False
    started = time.time()
    try:
        subprocess.run(["useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", user], check=True)
        created = True
        inst = Instance(tmp, "main")
        inst.write_config()
        inst.start()
        try:
            for name, fn in (("login", lambda: login_path(res, tmp, inst, user, opts.quick)),
                             ("throughput", lambda: throughput(res, inst, user, opts.quick)),
                             ("verify", lambda: verification(res, inst, opts.quick))):
                if name in sections:
                    try:
                        fn()
                    except (BenchError, subprocess.SubprocessError, OSError, KeyError, ZeroDivisionError) as e:
                        failed.append("%s: %s" % (name, e))
        finally:
            inst.stop()
        for name, fn in (("scale", lambda: scale(res, tmp, user, opts.quick)),
                         ("userdb", lambda: userdb(res, tmp, user, opts.quick)),
                         ("audit", lambda: audit_list(res, tmp, opts.quick)),
                         ("flood", lambda: flood(res, tmp, user, opts.quick)),
                         ("fleet", lambda: fleet(res, tmp, user, opts.quick, opts.fleet_hosts))):
            if name in sections:
                try:
                    fn()
                except (BenchError, subprocess.SubprocessError, OSError, KeyError, ZeroDivisionError) as e:
                    failed.append("%s: %s" % (name, e))
    finally:
        if created:
            subprocess.run(["userdel", "-f", user], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)
    print("enrich benchmarks%s, %s" % (" (QUICK: smoke test, figures not meaningful)" if opts.quick else "",
                                       time.strftime("%Y-%m-%d %H:%M")))
    print("machine: " + machine())
    print(res.table())
    report = {"quick": opts.quick, "machine": machine(), "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "seconds": round(time.time() - started, 1), "results": res.rows, "errors": failed}
    os.makedirs(os.path.dirname(opts.json), exist_ok=True)
    with open(opts.json, "w") as f:
        json.dump(report, f, indent=1)
    misses = [r["figure"] for r in res.rows if r["verdict"] == "MISS"]
    print("%d figures, %d targets met, %d missed%s; JSON in %s" % (
        len(res.rows), sum(r["verdict"] == "PASS" for r in res.rows), len(misses),
        (" (" + "; ".join(misses) + ")") if misses else "", opts.json))
    for e in failed:
        print("bench error: " + e)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
