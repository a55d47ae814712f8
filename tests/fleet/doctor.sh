[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# doctor.sh: enrichctl doctor's checks against etcd (FleetCheck), each seen
# failing and then fixed: the clock against etcd's (a relay in front of the
# real etcd shifts the gateway's Date header by 30 s, then by nothing), the
# credentials (a wrong password, then the right one in the same file, which
# is read at each check), and the prefix (a role that may read another
# prefix only, then granted read on the fleet's).
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-doctor-setup fleet-doctor-hosts-start fleet-doctor-skew-found fleet-doctor-skew-fixed
fleet-doctor-credentials-refused fleet-doctor-credentials-fixed fleet-doctor-prefix-unreadable
fleet-doctor-prefix-fixed"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_keys || exit 1
auth_setup() {
        etcdctl user add root --new-user-password rootpw &&
                etcdctl role add reader && etcdctl role grant-permission reader read /enrich-test/ --prefix=true &&
                etcdctl user add reader --new-user-password readerpw && etcdctl user grant-role reader reader &&
                etcdctl role add elsewhere && etcdctl role grant-permission elsewhere read /elsewhere/ --prefix=true &&
                etcdctl user add outsider --new-user-password outsiderpw &&
                etcdctl user grant-role outsider elsewhere && etcdctl auth enable
} >"$TMP/auth.out" 2>&1
check fleet-doctor-setup auth_setup || { show "$TMP/auth.out"; exit 1; }
printf 'reader:readerpw\n' >"$TMP/k.cred" && printf 'reader:wrong\n' >"$TMP/w.cred" &&
        printf 'outsider:outsiderpw\n' >"$TMP/o.cred" && chmod 0600 "$TMP/k.cred" "$TMP/w.cred" "$TMP/o.cred"
PROXY_PORT=$($FLEET_TOOL free-port)
echo 30 >"$TMP/offset"
$PY "$FLEET_HERE/date_proxy.py" "$PROXY_PORT" "${ETCD_ENDPOINT##*:}" "$TMP/offset" &
PROXY_PID=$!
CLEANUP_PIDS="$CLEANUP_PIDS $PROXY_PID"
FLEET_ENDPOINTS="\"http://127.0.0.1:$PROXY_PORT\", \"$ETCD_ENDPOINT\"" fleet_host k host-k '"web"' \
        "credentials = \"$TMP/k.cred\";"
fleet_host w host-w '"web"' "credentials = \"$TMP/w.cred\";"
fleet_host o host-o '"web"' "credentials = \"$TMP/o.cred\";"
check fleet-doctor-hosts-start eval 'host_start k && host_start w && host_start o' || exit 1

# doctor_says NAME REGEX: host NAME's doctor output has a matching line.
doctor_says() { hctl "$1" doctor >"$TMP/$1-doctor.out" 2>&1; grep -q -- "$2" "$TMP/$1-doctor.out"; }
# The proxy shifts etcd's Date header by 30 s; the header has whole seconds
# and the round trip's middle is a guess, so 29.x to 31.x are all right.
check fleet-doctor-skew-found doctor_says k "this clock is \(29\|30\|31\)\.[0-9] s behind etcd's" || show "$TMP/k-doctor.out"
echo 0 >"$TMP/offset"
check fleet-doctor-skew-fixed doctor_says k "clock within [01]\.[0-9] s of etcd's" || show "$TMP/k-doctor.out"

check fleet-doctor-credentials-refused doctor_says w "etcd refuses the credentials" || show "$TMP/w-doctor.out"
printf 'reader:readerpw\n' >"$TMP/w.cred"
check fleet-doctor-credentials-fixed doctor_says w "the etcd credentials authenticate" || show "$TMP/w-doctor.out"

check fleet-doctor-prefix-unreadable doctor_says o "cannot read the fleet prefix" || show "$TMP/o-doctor.out"
etcdctl --user root:rootpw role grant-permission elsewhere read /enrich-test/ --prefix=true >/dev/null
check fleet-doctor-prefix-fixed doctor_says o "the fleet prefix is readable" || show "$TMP/o-doctor.out"
host_stop k
host_stop w
host_stop o
kill "$PROXY_PID" 2>/dev/null
wait "$PROXY_PID" 2>/dev/null
exit "$FAILED"
