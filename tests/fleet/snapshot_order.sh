[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# snapshot_order.sh: a full read of the prefix at revision S never lands
# after watch events newer than S. Host b is cut off past offline_max
# (3 s), so its fleet grant is suspended; when the link heals it reads the
# prefix to resume that grant. The test hook
# ENRICH_FLEET_TEST_SNAPSHOT_DELAY_MS holds that read for 6 s between
# etcd's answer and its hand-over, and the grant is revoked meanwhile: the
# revocation (newer than the read) must win, and the grant stay revoked.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-order-setup fleet-order-suspended fleet-order-read-held fleet-order-revoke-wins
fleet-order-revoke-wins-later"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_keys || exit 1
PROXY_PORT=$($FLEET_TOOL free-port)
$PY "$FLEET_HERE/partition_proxy.py" "$PROXY_PORT" "${ETCD_ENDPOINT##*:}" &
PROXY_PID=$!
CLEANUP_PIDS="$CLEANUP_PIDS $PROXY_PID"
fleet_host a host-a '"admin"'
DIRECT=$ETCD_ENDPOINT
ETCD_ENDPOINT=http://127.0.0.1:$PROXY_PORT fleet_host b host-b '"web"' "offline_max = 3;"
ETCD_ENDPOINT=$DIRECT
use_host b
setup() {
        host_start a && ENRICH_FLEET_TEST_SNAPSHOT_DELAY_MS=6000 host_start b && session_open s1 "$U1" &&
                KEEP=$(hctl a grant "$U1" --scope keep:1 --ttl 10m --reason keep --fleet 2>/dev/null) &&
                poll 100 has_scope "$(session_serial s1)" keep:1
}
check fleet-order-setup setup || { show "$TMP/b/enrichd.log"; exit 1; }
S1=$(session_serial s1)
held() { [ "$(grep -c "Test hook: handing" "$TMP/b/enrichd.log")" -gt "$BEFORE" ]; }

kill -USR1 "$PROXY_PID"
check fleet-order-suspended poll 80 lacks_scope "$S1" keep:1 || show "$TMP/b/enrichd.log"
BEFORE=$(grep -c "Test hook: handing" "$TMP/b/enrichd.log")
kill -USR2 "$PROXY_PID"
# The read that would resume the grant is made, and held for 6 s.
check fleet-order-read-held poll 100 held || show "$TMP/b/enrichd.log"
hctl a revoke "$KEEP" >/dev/null 2>&1 || fail fleet-order-revoke
# Past the hold, and the watch's catch-up: the revocation counts.
sleep 8
check fleet-order-revoke-wins lacks_scope "$S1" keep:1 || show "$TMP/b/enrichd.log"
sleep 2
check fleet-order-revoke-wins-later lacks_scope "$S1" keep:1
session_close s1
host_stop a
host_stop b
exit "$FAILED"
