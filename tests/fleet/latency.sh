[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# latency.sh: how long a fleet change takes from the admin's enrichctl
# starting (so the write's own round trip to etcd is included: the hosts
# often see the change before enrichctl has exited) to the live claims key
# of a PAM session
# on each of FLEET_LATENCY_HOSTS other hosts (default 4, each its own
# enrichd, state and socket): 30 grants and 30 revocations, median and p99
# over every host's key printed. Fails when a revocation's p99 is 1 s or
# more (the issue's target).
. "$(dirname "$0")/lib.sh"

ROUNDS=${FLEET_LATENCY_ROUNDS:-30}
HOSTS=${FLEET_LATENCY_HOSTS:-4}
CHECKS="fleet-latency-setup fleet-latency-every-change-arrived fleet-latency-revoke-p99-under-1s"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_keys || exit 1
fleet_host a host-a '"admin"'
setup() {
        local i
        host_start a || return 1
        for i in $(seq "$HOSTS"); do
                fleet_host "b$i" "host-b$i" '"web"' && host_start "b$i" && use_host "b$i" && session_open "s$i" "$U1" ||
                        return 1
                SERIALS="$SERIALS $(session_serial "s$i")"
        done
}
SERIALS=""
check fleet-latency-setup setup || exit 1
: >"$TMP/grant.ms"
: >"$TMP/revoke.ms"
# latency KIND SCOPE STATE CMD...: a waiter on each host's key starts
# first (it prints the wall ms it saw SCOPE reach STATE), then CMD runs;
# each figure is a waiter's time less the time CMD started. Counted from
# CMD's return, a host that applied the change before enrichctl exited
# gave a negative figure.
latency() {
        local kind=$1 scope=$2 state=$3 started serial waiters="" w n=0 i; shift 3
        for serial in $SERIALS; do
                n=$((n + 1))
                $FLEET_TOOL wait-scope "$serial" "$scope" "$state" 0 "$(( $(ms_now) + 5000 ))" >"$TMP/seen.$n" &
                waiters="$waiters $!"
        done
        sleep 0.2
        started=$(ms_now)
        "$@" >"$TMP/cmd.out" 2>/dev/null || { wait $waiters; return 1; }
        for w in $waiters; do wait "$w" || echo "# $kind of $scope did not arrive on a host"; done
        for i in $(seq "$n"); do
                [ -s "$TMP/seen.$i" ] && echo $(($(cat "$TMP/seen.$i") - started)) >>"$TMP/$kind.ms"
        done
        return 0
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
echo "# $HOSTS hosts; fleet grant  -> each host's live key: $(stats "$TMP/grant.ms")"
echo "# $HOSTS hosts; fleet revoke -> each host's live key: $(stats "$TMP/revoke.ms")"
all_arrived() {
        [ "$(wc -l <"$TMP/grant.ms")" -eq $((ROUNDS * HOSTS)) ] && [ "$(wc -l <"$TMP/revoke.ms")" -eq $((ROUNDS * HOSTS)) ]
}
check fleet-latency-every-change-arrived all_arrived
p99_ok() { $PY -c 'import sys
v = sorted(int(x) for x in open(sys.argv[1]).read().split())
sys.exit(0 if v and v[min(len(v) - 1, int(0.99 * len(v)))] < 1000 else 1)' "$TMP/revoke.ms"; }
check fleet-latency-revoke-p99-under-1s p99_ok
for i in $(seq "$HOSTS"); do session_close "s$i"; host_stop "b$i"; done
host_stop a
exit "$FAILED"
