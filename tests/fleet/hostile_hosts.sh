[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# hostile_hosts.sh: hosts/<id> presence records are plain JSON that any
# etcd writer can put, and io.enrich.FleetJwks (anyone may call it) merges
# their keys. 120 records of 500 distinct keys each made every call
# compare each key with all those before it on the main thread (1.8e9
# string comparisons, seconds per call, logins waiting); an id that is no
# host id and a record past 64 KiB are not taken at all.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-hosts-hostile-setup fleet-hosts-jwks-fast fleet-hosts-status-fast fleet-hosts-big-record-dropped
fleet-hosts-bad-id-dropped"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_keys || exit 1
fleet_host b host-b '"web"'
check fleet-hosts-hostile-setup host_start b || exit 1

record() { # record ID FIRST COUNT: a presence record with COUNT distinct Ed25519 keys
        $PY -c 'import json, sys
i, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
keys = [{"kty": "OKP", "crv": "Ed25519", "x": "x%07d" % k, "kid": "k%07d" % k} for k in range(first, first + n)]
print(json.dumps({"hostId": i, "hostname": i, "version": "0", "labels": [], "jwks": {"keys": keys}, "since": 1}))' "$@"
}
for i in $(seq 120); do
        record "evil$i" $((i * 500)) 500 | etcdctl put "/enrich-test/hosts/evil$i" >/dev/null || break
done
record big 0 2000 | etcdctl put /enrich-test/hosts/big >/dev/null
record bad 0 1 | etcdctl put "/enrich-test/hosts/bad$(printf '\xc2\x9b')31m" >/dev/null
jwks_count() { hctl b fleet jwks 2>/dev/null | $PY -c 'import json, sys; print(len(json.load(sys.stdin)["keys"]))'; }
all_read() { [ "$(hctl b fleet hosts --json 2>/dev/null | grep -c '"hostId": "evil')" -ge 120 ]; }
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
echo "# 3 FleetJwks calls by $U1 over 60000 keys: $((T1 - T0)) ms; root's status meanwhile: $((S1 - S0)) ms"
check fleet-hosts-jwks-fast test $((T1 - T0)) -lt 3000
check fleet-hosts-status-fast test $((S1 - S0)) -lt 500
hctl b fleet hosts --json >"$TMP/hosts.json" 2>&1
listed() { grep -q '"hostId": "evil1"' "$TMP/hosts.json"; }
check fleet-hosts-big-record-dropped eval 'listed && ! grep -q "\"hostId\": \"big\"" "$TMP/hosts.json"' || show "$TMP/hosts.json"
check fleet-hosts-bad-id-dropped eval 'listed && ! LC_ALL=C grep -q $'"'"'\xc2\x9b'"'"' "$TMP/hosts.json"'
host_stop b
exit "$FAILED"
