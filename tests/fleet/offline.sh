[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# offline.sh: a host cut off from etcd (a relay that goes dark, no reset,
# as a partition looks) keeps its claims for offline_max (6 s here), then
# stops honouring fleet grants, keeps disabled users disabled, and when
# the link heals resumes the fleet grants still in etcd, but not one
# revoked during the partition, even when an etcd writer put its signed
# record back meanwhile.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-offline-setup fleet-offline-keeps-claims-within-offline-max fleet-offline-drops-after-offline-max
fleet-offline-logged fleet-offline-disabled-stays fleet-offline-heal-resumes-grant
fleet-offline-heal-keeps-revoked fleet-offline-heal-refuses-written-back fleet-offline-heal-logged fleet-doctor-says-suspended fleet-doctor-says-watching"
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
# offline_max 6: contact is counted in whole seconds from the last
# heartbeat (every offline_max / 5), so b may stop honouring grants as
# soon as 2.4 s after the cut with 3, and 4.8 s with 6; the revoke, the
# put, the 1 s wait and the look must all come before that.
ETCD_ENDPOINT=http://127.0.0.1:$PROXY_PORT fleet_host b host-b '"web"' "offline_max = 6;"
ETCD_ENDPOINT=$DIRECT
use_host b
setup() {
        host_start a && host_start b && session_open s1 "$U1" &&
                KEEP=$(hctl a grant "$U1" --scope keep:1 --ttl 10m --reason keep --fleet 2>/dev/null) &&
                GONE=$(hctl a grant "$U1" --scope gone:1 --ttl 10m --reason gone --fleet 2>/dev/null) &&
                hctl a disable "$U2" --reason off --fleet >/dev/null 2>&1 &&
                poll 30 has_scope "$(session_serial s1)" keep:1 && poll 30 has_scope "$(session_serial s1)" gone:1
}
check fleet-offline-setup setup || { show "$TMP/b/enrichd.log"; exit 1; }
S1=$(session_serial s1)
listed() { grep -qx "$U2" "$TMP/b/disabled-identities" 2>/dev/null; }

GONE_RECORD=$(etcdctl get "/enrich-test/grants/$GONE" --print-value-only)
kill -USR1 "$PROXY_PID"
hctl a revoke "$GONE" >/dev/null 2>&1
# An etcd writer puts the revoked grant's signed record back while b is
# cut off: b reads both it and the revocation when the link heals.
etcdctl put "/enrich-test/grants/$GONE" "$GONE_RECORD" >/dev/null
sleep 1
check fleet-offline-keeps-claims-within-offline-max has_scope "$S1" keep:1
dropped() { lacks_scope "$S1" keep:1 && lacks_scope "$S1" gone:1; }
check fleet-offline-drops-after-offline-max poll 150 dropped || show "$TMP/b/enrichd.log"
check fleet-offline-logged host_log_has b "stopped honouring 2 fleet grants"
check fleet-offline-disabled-stays listed
doctor_says() {
        hctl b doctor --config "$TMP/b/enrichd.conf" --pam-dir "$PAMDIR" >"$TMP/doctor.out" 2>&1
        grep -q "$1" "$TMP/doctor.out"
}
check fleet-doctor-says-suspended doctor_says "past offline_max (6s): fleet grants are not honoured" ||
        show "$TMP/doctor.out"

kill -USR2 "$PROXY_PID"
check fleet-offline-heal-resumes-grant poll 100 has_scope "$S1" keep:1 || show "$TMP/b/enrichd.log"
check fleet-offline-heal-keeps-revoked lacks_scope "$S1" gone:1
check fleet-offline-heal-refuses-written-back host_log_has b "grant $GONE was revoked in the fleet"
check fleet-offline-heal-logged host_log_has b "honouring fleet grants again (1 resumed)"
check fleet-doctor-says-watching poll 30 doctor_says "host host-b watches etcd at revision" || show "$TMP/doctor.out"
session_close s1
host_stop a
host_stop b
exit "$FAILED"
