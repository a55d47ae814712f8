[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# lib.sh: shared setup of the fleet tests (tests/fleet/*.sh and the short
# fleet suite in tests/integration). On top of the integration lib (users,
# PAM sessions, claims keys): real etcd processes (Debian's /usr/bin/etcd)
# on free loopback ports with their data in the test's folder, and several
# enrichd "hosts", each with its own state, sockets, host id and labels.
# Everything started is stopped and removed on exit, failure included
# (enrich_cleanup kills CLEANUP_PIDS, then removes $TMP).
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../integration/lib.sh"
FLEET_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FLEET_TOOL="$PY $FLEET_HERE/fleet_tool.py"
ETCD=${ETCD:-/usr/bin/etcd}
ETCDCTL_BIN=${ETCDCTL_BIN:-/usr/bin/etcdctl}

# fleet_require NAMES...: as enrich_require, and skips unless etcd is here.
fleet_require() {
        if [ ! -x "$ETCD" ] || [ ! -x "$ETCDCTL_BIN" ]; then
                local n
                for n in "$@"; do skip "$n" "needs etcd-server and etcd-client (tests/deps.sh)"; done
                exit 0
        fi
        enrich_require "$@"
}

# etcd_start: one etcd node on two free loopback ports, data in
# $TMP/etcd; sets ETCD_ENDPOINT and ETCD_PID and waits (10 s at most)
# until it says it is healthy.
etcd_start() {
        local client peer i
        client=$($FLEET_TOOL free-port) && peer=$($FLEET_TOOL free-port) || return 1
        ETCD_ENDPOINT=http://127.0.0.1:$client
        mkdir -p "$TMP/etcd" && chmod 0700 "$TMP/etcd"
        "$ETCD" --name fleet-test --data-dir "$TMP/etcd/data" \
                --listen-client-urls "$ETCD_ENDPOINT" --advertise-client-urls "$ETCD_ENDPOINT" \
                --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
                --initial-cluster "fleet-test=http://127.0.0.1:$peer" --initial-cluster-state new \
                >"$TMP/etcd/etcd.log" 2>&1 &
        ETCD_PID=$!
        CLEANUP_PIDS="$CLEANUP_PIDS $ETCD_PID"
        for i in $(seq 100); do
                etcdctl endpoint health >/dev/null 2>&1 && return 0
                kill -0 "$ETCD_PID" 2>/dev/null || break
                sleep 0.1
        done
        echo "# etcd did not come up"
        show "$TMP/etcd/etcd.log"
        return 1
}

etcdctl() { ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints "$ETCD_ENDPOINT" --dial-timeout 2s "$@"; }

# etcd_cluster_start N [ADDR...]: an N-node cluster (members m1..mN) on
# free loopback ports, data in $TMP/etcd-mI; sets ETCD_CLIENT_I and
# ETCD_PID_I per member, ETCD_ENDPOINT to the first, FLEET_ENDPOINTS to all
# (for fleet_host), and waits (20 s at most) until every member is healthy.
# Member I also serves its clients on the I-th ADDR (a veth end) with the
# same port, if given: ETCD_VETH_I is that URL, FLEET_VETH_ENDPOINTS all
# of them (for a fleet_host in a namespace).
etcd_cluster_start() {
        local n=$1 i cluster="" all="" veth="" peer client url listen
        local -a addrs
        shift
        addrs=("$@")
        for i in $(seq "$n"); do
                peer=$($FLEET_TOOL free-port) && client=$($FLEET_TOOL free-port) || return 1
                eval "ETCD_PEER_$i=$peer ETCD_CLIENT_$i=http://127.0.0.1:$client ETCD_VETH_$i="
                cluster="$cluster${cluster:+,}m$i=http://127.0.0.1:$peer"
                all="$all${all:+, }\"http://127.0.0.1:$client\""
                if [ -n "${addrs[i - 1]:-}" ]; then
                        eval "ETCD_VETH_$i=http://${addrs[i - 1]}:$client"
                        veth="$veth${veth:+, }\"http://${addrs[i - 1]}:$client\""
                fi
        done
        FLEET_ENDPOINTS=$all
        FLEET_VETH_ENDPOINTS=$veth
        for i in $(seq "$n"); do
                eval "peer=\$ETCD_PEER_$i client=\$ETCD_CLIENT_$i url=\$ETCD_VETH_$i"
                listen="$client${url:+,$url}"
                mkdir -p "$TMP/etcd-m$i" && chmod 0700 "$TMP/etcd-m$i"
                "$ETCD" --name "m$i" --data-dir "$TMP/etcd-m$i/data" \
                        --listen-client-urls "$listen" --advertise-client-urls "$client" \
                        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
                        --initial-cluster "$cluster" --initial-cluster-state new \
                        >"$TMP/etcd-m$i/etcd.log" 2>&1 &
                eval "ETCD_PID_$i=$!"
                CLEANUP_PIDS="$CLEANUP_PIDS $!"
        done
        ETCD_ENDPOINT=$ETCD_CLIENT_1
        for i in $(seq 200); do
                ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints "$(echo "$all" | tr -d '" ')" endpoint health >/dev/null 2>&1 &&
                        return 0
                sleep 0.1
        done
        echo "# the etcd cluster did not come up"
        show "$TMP/etcd-m1/etcd.log"
        return 1
}

# etcd_leader N: the member number (1..N) that leads now.
etcd_leader() {
        local i
        for i in $(seq "$1"); do
                eval "ETCDCTL_API=3 \"\$ETCDCTL_BIN\" --endpoints \"\$ETCD_CLIENT_$i\" --dial-timeout 1s endpoint status -w json" 2>/dev/null |
                        $PY -c 'import json, sys
s = json.load(sys.stdin)[0]["Status"]
sys.exit(0 if s["leader"] == s["header"]["member_id"] else 1)' && { echo "$i"; return 0; }
        done
        return 1
}

# fleet_keys: the issuer key $TMP/a.pem (host a's signing key once
# fleet_host a is made) trusted in $TMP/issuers.jwks, and a key no host
# trusts at $TMP/rogue.pem; "fleet-keys" fails when it cannot.
fleet_keys() {
        $FLEET_TOOL keygen "$TMP/a.pem" "$TMP/a.jwks" && $FLEET_TOOL keygen "$TMP/rogue.pem" "$TMP/rogue.jwks" &&
                cp "$TMP/a.jwks" "$TMP/issuers.jwks" || { fail fleet-keys; return 1; }
}

# fleet_pair: fleet_keys, then hosts a (host-a, label admin: its key is
# the issuer) and b (host-b, label web), not started.
fleet_pair() { fleet_keys && fleet_host a host-a '"admin"' && fleet_host b host-b '"web"'; }

# token_login HOST NAME SECRET: pam_authenticate + pam_acct_mgmt for $U1
# on host HOST with the token SECRET, through the real module (it prompts
# for the token, then the account hook); its stderr in $TMP/NAME.err.
token_login() {
        [ -f "$PAMDIR/fleet-tok-$1" ] || cat >"$PAMDIR/fleet-tok-$1" <<EOP
auth     required $BUILD/pam_enrich.so socket=$TMP/$1/io.enrich prompt
account  required $BUILD/pam_enrich.so socket=$TMP/$1/io.enrich
session  required pam_permit.so
EOP
        FLEET_SECRET=$3 "$PAM_SESSION" --confdir "$PAMDIR" --service "fleet-tok-$1" --user "$U1" \
                --authenticate --password-from-env FLEET_SECRET --acct-mgmt --no-session >/dev/null 2>"$TMP/$2.err"
}
# token_refused HOST NAME SECRET: that login fails authentication.
token_refused() { ! token_login "$@" && grep -q 'pam_authenticate: Authentication failure' "$TMP/$2.err"; }

# fleet_host NAME HOST_ID LABELS [EXTRA]: a host's folder $TMP/NAME with
# its config (the test's rules, a fleet group on $ETCD_ENDPOINT trusting
# $TMP/issuers.jwks, LABELS a libconfig list body like '"web", "eu"').
# With a key at $TMP/NAME.pem it becomes the host's signing key.
fleet_host() {
        local name=$1 id=$2 labels=$3 extra=$4 dir=$TMP/$1 endpoints
        endpoints=${FLEET_ENDPOINTS:-\"$ETCD_ENDPOINT\"}
        mkdir -p "$dir/state" && chmod 0700 "$dir/state" && chmod 0755 "$dir"
        [ -f "$TMP/$name.pem" ] && install -m 0600 "$TMP/$name.pem" "$dir/state/signing-key.pem"
        cat >"$dir/enrichd.conf" <<EOC
socket = "$dir/io.enrich";
userdb_socket = "$dir/io.enrich.Groups";
jwks = "$dir/jwks.json";
state_dir = "$dir/state";
issuer = "enrichd@$id";
claims_ttl = 600;
max_ttl = 3600;
rules = (
  { name = "base";
    match = { services = ["enrich-test"]; };
    grant = { scopes = ["base:read"]; };
  }
);
fleet = {
  endpoints = [ $endpoints ];
  prefix = "/enrich-test/";
  host_id = "$id";
  labels = [ $labels ];
  issuers = "$TMP/issuers.jwks";
  $extra
};
EOC
}

# host_start NAME: starts that host's enrichd; sets NAME_PID. Waits until
# it answers (30 s at most: a bound for a host that never comes up, not a
# measure of start-up, which on a loaded 2-core machine can take seconds).
host_start() {
        local name=$1 dir=$TMP/$1 pid i
        "$ENRICHD" --config "$dir/enrichd.conf" --foreground >>"$dir/enrichd.log" 2>&1 &
        pid=$!
        CLEANUP_PIDS="$CLEANUP_PIDS $pid"
        eval "${name}_PID=$pid"
        for i in $(seq 300); do
                "$ENRICHCTL" --socket "$dir/io.enrich" status >/dev/null 2>&1 && [ -s "$dir/jwks.json" ] && return 0
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        echo "# host $name did not come up"
        show "$dir/enrichd.log"
        return 1
}

# host_stop NAME: SIGTERM, and waits (20 s at most) for it to go; it must
# go by itself, with status 0 and no sanitizer report (make asan builds,
# whose exit includes LeakSanitizer's scan: a SIGKILL before it ends would
# fail the check for slowness alone).
host_stop() {
        local pid i status stopped=$1
        eval "pid=\${$1_PID}"
        [ -n "$pid" ] || return 0
        kill "$pid" 2>/dev/null
        for i in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        status=$?
        eval "${1}_PID="
        clean() { [ "$status" = 0 ] && ! grep -q 'Sanitizer\|runtime error' "$TMP/$stopped/enrichd.log"; }
        check "fleet-host-$stopped-clean-shutdown" clean || { echo "# exit status $status"; show "$TMP/$stopped/enrichd.log"; }
}

# hctl NAME ARGS...: enrichctl as root on host NAME.
hctl() { local dir=$TMP/$1; shift; "$ENRICHCTL" --socket "$dir/io.enrich" --jwks "$dir/jwks.json" "$@"; }

# use_host NAME: points the integration lib's PAM service, socket and JWKS
# (session_open, session_whoami) at host NAME.
use_host() {
        SOCK=$TMP/$1/io.enrich
        JWKS=$TMP/$1/jwks.json
        enrich_pam_service enrich-test "socket=$SOCK timeout=1500"
}

# For fleet_pair's hosts a and b: each lists the other (fleet hosts).
pair_listed() { hctl a fleet hosts 2>/dev/null | grep -q host-b && hctl b fleet hosts 2>/dev/null | grep -q host-a; }
# current_kid NAME: the host's signing key's kid.
current_kid() { hctl "$1" status | sed -n 's/^ *signing key: *//p'; }
# in_jwks NAME KID: the host's fleet JWKS lists KID; both_in_jwks KID: a's and b's.
in_jwks() { hctl "$1" fleet jwks 2>/dev/null | grep -q "\"kid\": \"$2\""; }
both_in_jwks() { in_jwks a "$1" && in_jwks b "$1"; }

# host_log_has NAME REGEX: the host's log has a matching line.
host_log_has() { grep -q -- "$2" "$TMP/$1/enrichd.log"; }

# signed KEY-PEM JSON: the record signed with that key.
signed() { $FLEET_TOOL sign "$1" "$2"; }

# ms_now: wall milliseconds.
ms_now() { date +%s%3N; }

# ---- network namespaces (tests/fleet/netns.sh) --------------------------
# A host inside a network namespace of the test's own, joined to the root
# namespace by veth pairs with private addresses: taking a link down cuts
# it off from etcd as a real partition does (no reset, no error on the
# far side). enrichd's sockets are Unix sockets in the filesystem and the
# keyring is not per network namespace, so PAM sessions and enrichctl
# still reach it from the root namespace.
NETNS_MADE=""   # namespaces this test made, deleted on exit
VETH_MADE=""    # root-side ends of its veth pairs, deleted on exit

# netns_cleanup: deletes the veth pairs and namespaces made (after
# enrich_cleanup has killed the processes inside them).
netns_cleanup() {
        local v n
        for v in $VETH_MADE; do ip link del "$v" 2>/dev/null; done
        for n in $NETNS_MADE; do ip netns del "$n" 2>/dev/null; done
        VETH_MADE="" NETNS_MADE=""
}

# netns_setup: after enrich_setup, makes the exit trap remove the
# namespaces and veth pairs too; true when this kernel and these
# privileges let us make them (a throwaway namespace is tried).
netns_setup() {
        local probe=enr-probe-$$
        trap 'enrich_cleanup; netns_cleanup' EXIT
        command -v ip >/dev/null && command -v nsenter >/dev/null || return 1
        ip netns add "$probe" 2>/dev/null || return 1
        ip netns del "$probe"
}

# netns_add NAME: a network namespace with its loopback up.
netns_add() {
        ip netns add "$1" || return 1
        NETNS_MADE="$NETNS_MADE $1"
        ip -n "$1" link set lo up
}

# netns_subnet: the first 10.231.N.0/24 (N from 20 on) that no address
# or route here overlaps; prints "10.231.N".
netns_subnet() {
        { ip -4 -o addr show; ip -4 route show table all; } | $PY -c 'import ipaddress, re, sys
used = []
for line in sys.stdin:
    for m in re.findall(r"\b(\d+\.\d+\.\d+\.\d+(?:/\d+)?)", line):
        try:
            net = ipaddress.ip_network(m, strict=False)
        except ValueError:
            continue
        if net.prefixlen > 0:
            used.append(net)
for n in range(20, 250):
    cand = ipaddress.ip_network("10.231.%d.0/24" % n)
    if not any(cand.overlaps(u) for u in used):
        print("10.231.%d" % n)
        sys.exit(0)
sys.exit(1)'
}

# veth_add NS ROOT-END NS-END ROOT-ADDR NS-ADDR: a veth pair, ROOT-END in
# the root namespace with ROOT-ADDR/30, NS-END in NS with NS-ADDR/30, both
# up; the pair is deleted on exit.
veth_add() {
        ip link add "$2" type veth peer name "$3" netns "$1" || return 1
        VETH_MADE="$VETH_MADE $2"
        ip addr add "$4/30" dev "$2" && ip link set "$2" up &&
                ip -n "$1" addr add "$5/30" dev "$3" && ip -n "$1" link set "$3" up
}

# etcd_cluster_start_on ADDR...: etcd_cluster_start with one member per
# ADDR, each also serving its clients on it.
etcd_cluster_start_on() { etcd_cluster_start $# "$@"; }

# host_start_in NS NAME: as host_start, with the host's enrichd inside
# network namespace NS (nsenter execs it: NAME_PID is enrichd's own).
host_start_in() {
        local ns=$1 name=$2 dir=$TMP/$2 pid i
        nsenter --net="/run/netns/$ns" "$ENRICHD" --config "$dir/enrichd.conf" --foreground >>"$dir/enrichd.log" 2>&1 &
        pid=$!
        CLEANUP_PIDS="$CLEANUP_PIDS $pid"
        eval "${name}_PID=$pid"
        for i in $(seq 300); do
                "$ENRICHCTL" --socket "$dir/io.enrich" status >/dev/null 2>&1 && [ -s "$dir/jwks.json" ] && return 0
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        echo "# host $name did not come up in namespace $ns"
        show "$dir/enrichd.log"
        return 1
}
