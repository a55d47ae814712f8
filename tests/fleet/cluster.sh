[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# cluster.sh: a 3-node etcd cluster, hosts a (issuer) and b with all three
# endpoints. Leadership is moved to m1, the member both hosts talk to
# first; 200 fleet grants are written from a while the leader is killed
# with SIGKILL after the 60th, so a's writes and b's watch must both move
# to another member: every grant a acknowledged reaches b, none is applied
# twice, and a grant written after the election still reaches b's live key.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-cluster-starts fleet-cluster-hosts-start fleet-cluster-watch-moved fleet-cluster-leader-killed fleet-cluster-most-acknowledged
fleet-cluster-every-acknowledged-arrives fleet-cluster-none-twice fleet-cluster-after-election-live-key"
fleet_require $CHECKS
enrich_setup
check fleet-cluster-starts etcd_cluster_start 3 || exit 1
fleet_pair || exit 1
use_host b
check fleet-cluster-hosts-start eval 'host_start a && host_start b && session_open s1 "$U1"' || exit 1
S1=$(session_serial s1)

# Leadership to m1 (etcdctl wants its member id in hex).
M1=$(ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints "$ETCD_CLIENT_1" endpoint status -w json |
        $PY -c 'import json, sys; print("%x" % json.load(sys.stdin)[0]["Status"]["header"]["member_id"])')
L=$(etcd_leader 3)
eval "LEP=\$ETCD_CLIENT_$L"
[ "$L" = 1 ] || ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints "$LEP" move-leader "$M1" >/dev/null 2>&1
: >"$TMP/acked"
KILLED=""
for i in $(seq 200); do
        if [ "$i" = 61 ]; then
                LEADER=$(etcd_leader 3)
                eval "LPID=\$ETCD_PID_$LEADER"
                [ -n "$LEADER" ] && kill -9 "$LPID" && KILLED=$LEADER
        fi
        id=$(hctl a grant "$U1" --scope "c:$i" --ttl 10m --reason "cluster $i" --fleet 2>>"$TMP/grant.err") &&
                echo "$id" >>"$TMP/acked"
done
ACKED=$(wc -l <"$TMP/acked")
echo "# leader m$KILLED killed after 60 grants; $ACKED of 200 acknowledged"
check fleet-cluster-leader-killed test -n "$KILLED"
check fleet-cluster-most-acknowledged test "$ACKED" -ge 150 || tail -5 "$TMP/grant.err"
arrived() {
        hctl b grants --json --user "$U1" >"$TMP/b-grants.json" 2>/dev/null &&
                $PY -c 'import json, sys
rows = json.load(open(sys.argv[1]))
rows = rows.get("grants", []) if isinstance(rows, dict) else rows
have = {g["id"] for g in rows}
want = set(open(sys.argv[2]).read().split())
missing = want - have
if missing:
    print("# %d acknowledged grants missing on b, e.g. %s" % (len(missing), sorted(missing)[:3]))
sys.exit(1 if missing else 0)' "$TMP/b-grants.json" "$TMP/acked"
}
check fleet-cluster-every-acknowledged-arrives poll 100 arrived ||
        grep -i "etcd\|fleet mode\|compacted\|Watching" "$TMP/b/enrichd.log" | grep -v "audit #" | tail -20
twice() {
        sqlite3 "$TMP/b/state/enrich.db" "SELECT json_extract(details, '\$.grantId') FROM audit
                WHERE action = 'grant.created' GROUP BY 1 HAVING count(*) > 1" | grep .
}
check_not fleet-cluster-none-twice twice
moved() { [ "$KILLED" = 1 ] && host_log_has b "Lost contact with etcd" && [ "$(grep -c "Watching the fleet" "$TMP/b/enrichd.log")" -ge 2 ]; }
check fleet-cluster-watch-moved moved || echo "# killed m$KILLED"
LAST=$(hctl a grant "$U1" --scope after:election --ttl 10m --reason "after" --fleet 2>/dev/null)
check fleet-cluster-after-election-live-key poll 50 has_scope "$S1" after:election
session_close s1
host_stop a
host_stop b
exit "$FAILED"
