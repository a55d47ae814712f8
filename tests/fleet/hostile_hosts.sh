[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# hostile_hosts.sh: hosts/<id> presence records are plain JSON that any
# etcd writer can put, and io.enrich.FleetJwks (anyone may call it) merges
# their keys. 120 records of 500 distinct keys each made every call
# compare each key with all those before it on the main thread (1.8e9
# string comparisons, seconds per call, logins waiting); now 940 records
# of 64 keys (the most a record may hold) are merged in linear time. An id
# that is no host id, a record past 64 KiB, one with more than 64 keys or
# labels, and one whose hostname holds terminal controls (fleet hosts
# prints it) are not taken at all.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-hosts-hostile-setup fleet-hosts-jwks-fast fleet-hosts-status-fast fleet-hosts-big-record-dropped
fleet-hosts-bad-id-dropped fleet-hosts-many-keys-dropped fleet-hosts-many-labels-dropped fleet-hosts-controls-dropped
fleet-hosts-shape-logged"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_keys || exit 1
fleet_host b host-b '"web"'
check fleet-hosts-hostile-setup host_start b || exit 1

# put_records ID... (through etcd's gateway, one HTTP put each): ID
# evilN a record of 64 distinct Ed25519 keys; big one of 2000 (past
# 64 KiB); toomany 65 keys; labels 65 labels; controls a hostname with an
# escape sequence; bad under a key that is no host id.
put_records() {
        $PY - "$ETCD_ENDPOINT" "$@" <<'PYEOF'
import base64, json, sys, urllib.request
url, names = sys.argv[1], sys.argv[2:]
def record(i, first, n, **extra):
    keys = [{"kty": "OKP", "crv": "Ed25519", "x": "x%07d" % k, "kid": "k%07d" % k} for k in range(first, first + n)]
    r = {"hostId": i, "hostname": i, "version": "0", "labels": [], "jwks": {"keys": keys}, "since": 1}
    r.update(extra)
    return r
for n, name in enumerate(names):
    key = "/enrich-test/hosts/" + name
    if name.startswith("evil"):
        value = record(name, n * 64, 64)
    elif name == "big":
        value = record(name, 0, 2000)
    elif name == "toomany":
        value = record(name, 0, 65)
    elif name == "labels":
        value = record(name, 0, 1, labels=["l%d" % k for k in range(65)])
    elif name == "controls":
        value = record(name, 0, 1, hostname="web\x1b]2;owned\x07")
    else:
        key, value = "/enrich-test/hosts/bad\u009b31m", record(name, 0, 1)
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                       "value": base64.b64encode(json.dumps(value).encode()).decode()}).encode()
    urllib.request.urlopen(urllib.request.Request(url + "/v3/kv/put", body), timeout=10).read()
PYEOF
}
put_records $(seq -f "evil%g" 940) big toomany labels controls bad
jwks_count() { hctl b fleet jwks 2>/dev/null | $PY -c 'import json, sys; print(len(json.load(sys.stdin)["keys"]))'; }
all_read() { [ "$(hctl b fleet hosts --json 2>/dev/null | grep -c '"hostId": "evil')" -ge 940 ]; }
poll 100 all_read || show "$TMP/b/enrichd.log"

T0=$(ms_now)
ctl_user() { as_user "$U1" "$ENRICHCTL" --socket "$TMP/b/io.enrich" "$@"; }
timeout 60 bash -c "$(declare -f as_user ctl_user); ENRICHCTL=$ENRICHCTL TMP=$TMP U1=$U1; for i in 1 2 3; do ctl_user fleet jwks >/dev/null 2>&1; done" &
JWKS_PID=$!
sleep 0.2
S0=$(ms_now)
hctl b status >/dev/null 2>&1
S1=$(ms_now)
wait "$JWKS_PID"
T1=$(ms_now)
echo "# 3 FleetJwks calls by $U1 over 60160 keys: $((T1 - T0)) ms; root's status meanwhile: $((S1 - S0)) ms"
check fleet-hosts-jwks-fast test $((T1 - T0)) -lt 3000
check fleet-hosts-status-fast test $((S1 - S0)) -lt 500
hctl b fleet hosts --json >"$TMP/hosts.json" 2>&1
listed() { grep -q '"hostId": "evil1"' "$TMP/hosts.json"; }
check fleet-hosts-big-record-dropped eval 'listed && ! grep -q "\"hostId\": \"big\"" "$TMP/hosts.json"' || show "$TMP/hosts.json"
check fleet-hosts-bad-id-dropped eval 'listed && ! LC_ALL=C grep -q $'"'"'\xc2\x9b'"'"' "$TMP/hosts.json"'
not_listed() { listed && ! grep -q "\"hostId\": \"$1\"" "$TMP/hosts.json"; }
check fleet-hosts-many-keys-dropped not_listed toomany
check fleet-hosts-many-labels-dropped not_listed labels
check fleet-hosts-controls-dropped eval 'not_listed controls && ! grep -q owned "$TMP/hosts.json"'
check fleet-hosts-shape-logged host_log_has b "Ignoring fleet record /enrich-test/hosts/toomany: a presence record with more than 64 keys"
host_stop b
exit "$FAILED"
