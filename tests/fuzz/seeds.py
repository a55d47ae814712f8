#!/usr/bin/python3
"""seeds.py: writes the seed corpora in tests/fuzz/corpus/ (committed; rerun
after changing a target's input format). The JWS seeds are signed with the
fixed key of fuzz_jws.c, so they verify there. usage: seeds.py"""
import base64
import hashlib
import json
import os
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = b"enrich-fuzz-fixed-ed25519-seed!\0"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def call(method, params=None, **extra):
    m = {"method": method, "parameters": params or {}}
    m.update(extra)
    return json.dumps(m).encode() + b"\0"


def varlink():
    enrich = {"user": "root", "service": "sshd", "pid": 1, "tty": "pts/0", "rhost": "10.1.2.3",
              "ruser": "root", "asid": 3, "amr": ["pop"]}
    calls = [
        call("org.varlink.service.GetInfo"),
        call("org.varlink.service.GetInterfaceDescription", {"interface": "io.enrich"}),
        call("io.enrich.Enrich", enrich),
        call("io.enrich.AttachKey", {"sid": "abc", "keySerial": 12}),
        call("io.enrich.EndSession", {"sid": "abc"}),
        call("io.enrich.Status"),
        call("io.enrich.ListSessions", {"user": "root"}, more=True),
        call("io.enrich.Grant", {"user": "root", "scopes": ["deploy:prod"], "groups": ["g"],
                                 "ttl": 3600, "reason": "INC-1"}),
        call("io.enrich.ListGrants", {"user": "root", "all": True}),
        call("io.enrich.RevokeGrant", {"id": "g-1"}),
        call("io.enrich.RevokeSession", {"sid": "abc"}),
        call("io.enrich.RevokeUser", {"user": "root"}),
        call("io.enrich.Explain", {"user": "root", "service": "sshd", "rhost": "::1", "amr": ["pop"]}),
        call("io.enrich.Refresh", {"user": "root"}),
        call("io.enrich.Reload"),
        call("io.enrich.Nope", oneway=True),
        call("io.enrich.ListKeys"),
        call("io.enrich.RotateKey", {"compromised": True}),
    ]
    for i, c in enumerate(calls):
        write("varlink", "call-%02d" % i, b"\xff" + c)
    write("varlink", "stream", b"\x00" + b"".join(calls))
    write("varlink", "bad-json", b"\x01{\"method\":\0")
    write("varlink", "not-a-call", b"\x02[1,2]\0{\"parameters\":1}\0")


def userdb():
    svc = "io.enrich.Groups"
    calls = [
        call("io.systemd.UserDatabase.GetGroupRecord", {"groupName": "eu8-jit", "service": svc}),
        call("io.systemd.UserDatabase.GetGroupRecord", {"gid": 61002, "service": svc}),
        call("io.systemd.UserDatabase.GetGroupRecord", {"service": svc}, more=True),
        call("io.systemd.UserDatabase.GetMemberships", {"userName": "root", "service": svc}, more=True),
        call("io.systemd.UserDatabase.GetMemberships", {"groupName": "eu8-all", "service": svc}, more=True),
        call("io.systemd.UserDatabase.GetMemberships", {"service": svc}, more=True),
        call("io.systemd.UserDatabase.GetUserRecord", {"userName": "root", "service": svc}),
        call("io.systemd.UserDatabase.GetGroupRecord", {"groupName": "eu8-jit", "service": "other"}),
        call("org.varlink.service.GetInfo"),
        call("org.varlink.service.GetInterfaceDescription", {"interface": "io.systemd.UserDatabase"}),
    ]
    for i, c in enumerate(calls):
        write("userdb", "call-%02d" % i, b"\xff" + c)
    grant = call("io.enrich.Grant", {"user": "root", "groups": ["eu8-jit"], "ttl": 600, "reason": "fuzz"})
    write("userdb", "grant-then-ask", b"\x00" + grant + b"".join(calls))


def jws():
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    x = b64(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    kid = b64(hashlib.sha256(json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x},
                                        separators=(",", ":"), sort_keys=True).encode()).digest())
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}
    jwks = json.dumps({"keys": [jwk]})
    machine_id = open("/etc/machine-id").read().strip()
    now = int(time.time())
    payload = {"iss": "enrichd@fuzz", "sub": "root", "uid": 0, "aud": machine_id, "iat": now,
               "nbf": now, "exp": now + 10 * 365 * 86400, "jti": "j", "sid": "s", "amr": ["pwd"],
               "groups": ["g"], "scope": "s:read s:write", "tenant": "acme", "pv": "0"}

    def sign(header, body):
        signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(body).encode())
        return signing_input + "." + b64(key.sign(signing_input.encode()))

    header = {"alg": "EdDSA", "typ": "enrich+jwt", "kid": kid}
    token = sign(header, payload)
    write("jws", "token", token)
    write("jws", "jwks-and-token", jwks + "\n" + token)
    write("jws", "jwks", jwks)
    write("jws", "payload", json.dumps(payload))
    write("jws", "payload-asid", json.dumps(dict(payload, asid=7, act={"sub": "alice"})))
    write("jws", "alg-none", b64(b'{"alg":"none"}') + "." + b64(json.dumps(payload).encode()) + ".")
    write("jws", "hs256", sign({"alg": "HS256", "kid": kid}, payload))
    write("jws", "unknown-kid", sign({"alg": "EdDSA", "typ": "enrich+jwt", "kid": "nope"}, payload))
    write("jws", "jwks-mixed", json.dumps({"keys": [jwk, {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
                                                   {"kty": "OKP", "crv": "X25519", "x": x}, 5]}))


def config():
    for name in ("enrichd.conf",):
        path = os.path.join(HERE, "..", "..", "etc", "enrich", name)
        if os.path.exists(path):
            write("config", name, open(path, "rb").read())
    write("config", "design-sample", """socket = "/run/enrich/io.enrich";
userdb_socket = "/run/systemd/userdb/io.enrich.Groups";
jwks = "/run/enrich/jwks.json";
state_dir = "/var/lib/enrich";
issuer = "enrichd@web-01";
claims_ttl = 900;
max_ttl = 28800;
admin_group = "enrich-admin";
timezone = "UTC";
groups = ( { name = "jit-deploy"; gid = 61001; description = "deployers"; } );
rules = (
  { name = "ops-over-ssh";
    match = { services = ["sshd"]; unix_groups = ["ops"]; users = ["alice"]; ttys = ["pts/0"];
              rhosts = ["10.0.0.0/8", "::1", "host.example"]; hours = "07:00-19:00";
              days = ["Mon","Tue","Wed","Thu","Fri"]; amr = ["pop"];
              not_users = ["bob"]; not_unix_groups = ["nope"]; };
    grant = { groups = ["ops-readonly"]; scopes = ["logs:read"]; tenant = "acme"; ttl = 3600; };
  },
  { name = "backup-service";
    match = { users = ["svc-backup"]; services = ["enrich-service"]; };
    grant = { scopes = ["s3:backup:write"]; ttl = 900; };
  }
);
""")
    write("config", "errors", 'claims_ttl = -1;\nrules = ({ match = { hours = "25:00-99:99"; rhosts = ["1.2.3.4/33"]; }; });\n')


def values():
    for i, v in enumerate(["10.0.0.0/8", "::1", "2001:db8::/32", "::ffff:192.168.1.0/120", "1.2.3.4",
                           "host.example.", "07:00-19:00", "22:00-06:00", "00:00-24:00", "1h30m", "90",
                           "1w2d", "2147483647", "fe80::1%eth0", "10.0.0.0/0"]):
        write("values", "v%02d" % i, v)


if __name__ == "__main__":
    varlink()
    userdb()
    jws()
    config()
    values()
