[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# lag.sh: `fleet status`'s lag counts only this fleet's changes. One etcd
# cluster may serve several fleets, each under its own prefix: 40 writes
# under another prefix move the store's revision far past the one host b
# applied, yet b is not behind (lag 0); a change under b's own prefix is
# applied and leaves the lag at 0 as well.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-lag-setup fleet-lag-other-prefix-moves-store fleet-lag-ignores-other-prefix
fleet-lag-own-prefix-applied"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_keys || exit 1
# offline_max 3: a heartbeat (and so a fresh lag) every 0.6 s.
fleet_host b host-b '"web"' "offline_max = 3;"
status_is() {
        hctl b fleet status --json >"$TMP/status.json" 2>&1 &&
                $PY -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
                        "$TMP/status.json" "$1"
}
check fleet-lag-setup eval 'host_start b && poll 50 status_is "s[\"connected\"] and s[\"revision\"] > 0"' ||
        { show "$TMP/b/enrichd.log"; exit 1; }

for i in $(seq 40); do etcdctl put "/other-fleet/grants/g$i" "x$i" >/dev/null; done
sleep 1.5
check fleet-lag-other-prefix-moves-store poll 30 status_is 's["storeRevision"] - s["revision"] >= 40' ||
        show "$TMP/status.json"
check fleet-lag-ignores-other-prefix status_is 's["lag"] == 0' || show "$TMP/status.json"
grep -o '"lag": *[0-9]*' "$TMP/status.json" | sed 's/^/# after 40 writes under another prefix: /'

etcdctl put /enrich-test/hosts/other-host '{"hostId": "other-host", "labels": []}' >/dev/null
own_applied() {
        status_is 's["lag"] == 0 and s["hosts"] >= 1' && hctl b fleet hosts 2>/dev/null | grep -q other-host
}
check fleet-lag-own-prefix-applied poll 30 own_applied || show "$TMP/status.json"
host_stop b
exit "$FAILED"
