[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# origin.sh: `enrichctl grants` says where each grant came from. On host b
# a grant made on b is "local"; one written by issuer host a with --fleet
# is "fleet:host-a" in the table and fleet: true, issuer: "host-a" with
# --json, on b and on a itself; a signed record that names no issuing
# host shows the key that signed it.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-origin-setup fleet-origin-json-fleet fleet-origin-json-local fleet-origin-table-fleet
fleet-origin-table-local fleet-origin-on-issuer fleet-origin-key-when-unnamed fleet-origin-all-listing"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_pair || exit 1
check fleet-origin-setup eval 'host_start a && host_start b' || exit 1

FLEET_ID=$(hctl a grant "$U1" --scope origin:fleet --ttl 10m --reason fleet --fleet 2>"$TMP/fleet.err")
LOCAL_ID=$(hctl b grant "$U1" --scope origin:local --ttl 10m --reason local 2>"$TMP/local.err")
on_b() { hctl b grants --json --user "$U1" 2>/dev/null | grep -q "$FLEET_ID"; }
poll 30 on_b || show "$TMP/fleet.err"
# grant_is HOST ID PYTHON-EXPR: EXPR holds for g, grant ID in HOST's --json listing.
grant_is() {
        hctl "$1" grants --json --user "$U1" >"$TMP/grants.json" 2>&1 &&
                $PY -c 'import json, sys
d = json.load(open(sys.argv[1]))
rows = d["grants"] if isinstance(d, dict) else d
g = [r for r in rows if r["id"] == sys.argv[2]][0]
sys.exit(0 if eval(sys.argv[3]) else 1)' "$TMP/grants.json" "$2" "$3"
}
check fleet-origin-json-fleet grant_is b "$FLEET_ID" 'g.get("fleet") is True and g.get("issuer") == "host-a"' ||
        show "$TMP/grants.json"
check fleet-origin-json-local grant_is b "$LOCAL_ID" '"fleet" not in g and "issuer" not in g' || show "$TMP/grants.json"
hctl b grants --user "$U1" >"$TMP/grants.txt" 2>&1
table_says() { head -n1 "$TMP/grants.txt" | grep -q 'ORIGIN' && grep "^$1 " "$TMP/grants.txt" | grep -q " $2 *\$"; }
check fleet-origin-table-fleet table_says "$FLEET_ID" "fleet:host-a" || show "$TMP/grants.txt"
check fleet-origin-table-local table_says "$LOCAL_ID" "local" || show "$TMP/grants.txt"
check fleet-origin-on-issuer poll 30 grant_is a "$FLEET_ID" 'g.get("fleet") is True and g.get("issuer") == "host-a"'

# A record signed by a's key but naming no issuing host: its key says.
KID=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["keys"][0]["kid"])' "$TMP/a.jwks")
etcdctl put /enrich-test/grants/unnamed1 "$(signed "$TMP/a.pem" "$($FLEET_TOOL grant unnamed1 "$U1" origin:unnamed)")" >/dev/null
check fleet-origin-key-when-unnamed poll 30 grant_is b unnamed1 'g.get("fleet") is True and g.get("issuer") == "key '"$KID"'"' ||
        show "$TMP/grants.json"
hctl a revoke "$FLEET_ID" >/dev/null 2>&1
all_listing() {
        hctl b grants --all --user "$U1" >"$TMP/all.txt" 2>&1 && grep "^$FLEET_ID " "$TMP/all.txt" | grep -q "fleet:host-a"
}
check fleet-origin-all-listing poll 30 all_listing || show "$TMP/all.txt"
host_stop a
host_stop b
exit "$FAILED"
