[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# latency.sh: how long a fleet change takes from etcd's acknowledgement
# (the admin's enrichctl returning) to the live claims key of a PAM session
# on another host: 30 grants and 30 revocations, median and p99 printed.
# Fails when a revocation's p99 is 1 s or more (the issue's target).
. "$(dirname "$0")/lib.sh"

ROUNDS=${FLEET_LATENCY_ROUNDS:-30}
CHECKS="fleet-latency-setup fleet-latency-every-change-arrived fleet-latency-revoke-p99-under-1s"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
$FLEET_TOOL keygen "$TMP/a.pem" "$TMP/a.jwks" && cp "$TMP/a.jwks" "$TMP/issuers.jwks" || { fail fleet-keys; exit 1; }
fleet_host a host-a '"admin"'
fleet_host b host-b '"web"'
use_host b
check fleet-latency-setup eval 'host_start a && host_start b && session_open s1 "$U1"' || exit 1
S1=$(session_serial s1)
: >"$TMP/grant.ms"
: >"$TMP/revoke.ms"
# latency KIND SCOPE STATE CMD...: a waiter on the key starts first (it
# prints the wall ms it saw SCOPE reach STATE), then CMD runs; the figure
# is the waiter's time less the time CMD returned (etcd had acknowledged).
latency() {
        local kind=$1 scope=$2 state=$3 acked seen; shift 3
        $FLEET_TOOL wait-scope "$S1" "$scope" "$state" 0 "$(( $(ms_now) + 5000 ))" >"$TMP/seen" &
        local waiter=$!
        sleep 0.1
        "$@" >"$TMP/cmd.out" 2>/dev/null || { wait "$waiter"; return 1; }
        acked=$(ms_now)
        wait "$waiter" || { echo "# $kind of $scope did not arrive"; return 1; }
        seen=$(cat "$TMP/seen")
        echo $((seen - acked)) >>"$TMP/$kind.ms"
}
for i in $(seq "$ROUNDS"); do
        latency grant "lat:$i" present hctl a grant "$U1" --scope "lat:$i" --ttl 10m --reason latency --fleet ||
                continue
        latency revoke "lat:$i" absent hctl a revoke "$(cat "$TMP/cmd.out")"
done
stats() { $PY -c 'import sys
v = sorted(int(x) for x in open(sys.argv[1]).read().split())
if not v: sys.exit("no samples")
p = lambda q: v[min(len(v) - 1, int(q * len(v)))]
print("%d samples, median %d ms, p99 %d ms, max %d ms" % (len(v), p(0.5), p(0.99), v[-1]))' "$1"; }
echo "# fleet grant  -> other host's live key: $(stats "$TMP/grant.ms")"
echo "# fleet revoke -> other host's live key: $(stats "$TMP/revoke.ms")"
all_arrived() { [ "$(wc -l <"$TMP/grant.ms")" -eq "$ROUNDS" ] && [ "$(wc -l <"$TMP/revoke.ms")" -eq "$ROUNDS" ]; }
check fleet-latency-every-change-arrived all_arrived
p99_ok() { $PY -c 'import sys
v = sorted(int(x) for x in open(sys.argv[1]).read().split())
sys.exit(0 if v and v[min(len(v) - 1, int(0.99 * len(v)))] < 1000 else 1)' "$TMP/revoke.ms"; }
check fleet-latency-revoke-p99-under-1s p99_ok
session_close s1
host_stop a
host_stop b
exit "$FAILED"
