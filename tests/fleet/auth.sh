[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# auth.sh: fleet mode on an etcd with authentication on. Host a holds
# read-write credentials, host r read-only ones (read on the prefix, as a
# fleet host gets); both keys are issuers. r still receives a's grants
# through a token bought with its credentials, and its own --fleet writes
# fail saying its credentials are read-only; a wrong password is named.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-auth-setup fleet-auth-hosts-start fleet-auth-grant-written fleet-auth-readonly-host-receives
fleet-auth-readonly-grant-refused fleet-auth-readonly-disable-refused fleet-auth-wrong-password-named
fleet-auth-readonly-presence-logged fleet-enroll-commands-run fleet-enroll-host-starts fleet-enroll-host-present
fleet-enroll-host-receives fleet-enroll-host-cannot-grant fleet-enroll-host-cannot-write-others
fleet-enroll-host-cannot-enrol-itself fleet-enroll-key-by-issuer fleet-enroll-key-readonly-refused
fleet-credentials-check-config-configured fleet-credentials-check-config-systemd fleet-credentials-systemd-host-starts
fleet-credentials-systemd-used fleet-credentials-doctor-names-source"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
$FLEET_TOOL keygen "$TMP/a.pem" "$TMP/a.jwks" && $FLEET_TOOL keygen "$TMP/r.pem" "$TMP/r.jwks" &&
        $FLEET_TOOL merge "$TMP/issuers.jwks" "$TMP/a.jwks" "$TMP/r.jwks" && cp "$TMP/r.pem" "$TMP/w.pem" ||
        { fail fleet-keys; exit 1; }
auth_setup() {
        etcdctl user add root --new-user-password rootpw &&
                etcdctl role add reader &&
                etcdctl role grant-permission reader read /enrich-test/ --prefix=true &&
                etcdctl user add reader --new-user-password readerpw &&
                etcdctl user grant-role reader reader &&
                etcdctl auth enable
} >"$TMP/auth.out" 2>&1
check fleet-auth-setup auth_setup || { show "$TMP/auth.out"; exit 1; }
printf 'root:rootpw\n' >"$TMP/a.cred" && printf 'reader:readerpw\n' >"$TMP/r.cred" &&
        printf 'reader:wrong\n' >"$TMP/w.cred" && chmod 0600 "$TMP/a.cred" "$TMP/r.cred" "$TMP/w.cred"
fleet_host a host-a '"admin"' "credentials = \"$TMP/a.cred\";"
fleet_host r host-r '"web"' "credentials = \"$TMP/r.cred\";"
fleet_host w host-w '"web"' "credentials = \"$TMP/w.cred\";"
check fleet-auth-hosts-start eval 'host_start a && host_start r && host_start w'

ID=$(hctl a grant "$U1" --scope auth:ok --ttl 10m --reason "auth test" --fleet 2>"$TMP/grant.err")
written() { [ -n "$ID" ] && etcdctl --user root:rootpw get "/enrich-test/grants/$ID" --keys-only | grep -q "$ID"; }
check fleet-auth-grant-written written || show "$TMP/grant.err"
received() { hctl r grants --json --user "$U1" | grep -q "auth:ok"; }
check fleet-auth-readonly-host-receives poll 30 received || show "$TMP/r/enrichd.log"
readonly_refused() {
        ! hctl r grant "$U1" --scope x:y --ttl 1m --reason r --fleet >"$TMP/ro.out" 2>&1 &&
                grep -q "credentials are read-only" "$TMP/ro.out"
}
check fleet-auth-readonly-grant-refused readonly_refused || show "$TMP/ro.out"
readonly_disable() {
        ! hctl r disable "$U2" --reason r --fleet >"$TMP/rod.out" 2>&1 && grep -q "read-only" "$TMP/rod.out"
}
check fleet-auth-readonly-disable-refused readonly_disable || show "$TMP/rod.out"
wrong_named() {
        ! hctl w grant "$U1" --scope x:y --ttl 1m --reason r --fleet >"$TMP/w.out" 2>&1 &&
                grep -q "etcd refused this host's credentials" "$TMP/w.out"
}
check fleet-auth-wrong-password-named wrong_named || { show "$TMP/w.out"; show "$TMP/w/enrichd.log"; }
check fleet-auth-readonly-presence-logged poll 30 host_log_has r "Not publishing this host's presence"

# --- fleet enroll: the printed user and role let a new host read the
# prefix and publish its own presence, and nothing else
enroll() {
        hctl a fleet enroll host-e --json >"$TMP/enroll.json" &&
                $PY -c 'import json, subprocess, sys
e = json.load(open(sys.argv[1]))
for args in e["etcdctl"]:
    subprocess.run([sys.argv[2], "--endpoints", sys.argv[3], "--user", "root:rootpw"] + args, check=True,
                   env={"ETCDCTL_API": "3"}, stdout=subprocess.DEVNULL)
open(sys.argv[4], "w").write(e["credentials"] + "\n")' "$TMP/enroll.json" "$ETCDCTL_BIN" "$ETCD_ENDPOINT" "$TMP/e.cred" &&
                chmod 0600 "$TMP/e.cred"
}
check fleet-enroll-commands-run enroll || show "$TMP/enroll.json"
cp "$TMP/r.pem" "$TMP/e.pem"
fleet_host e host-e '"web"' "credentials = \"$TMP/e.cred\";"
check fleet-enroll-host-starts host_start e
e_present() { hctl a fleet hosts 2>/dev/null | grep -q host-e; }
check fleet-enroll-host-present poll 50 e_present || show "$TMP/e/enrichd.log"
e_received() { hctl e grants --json --user "$U1" | grep -q "auth:ok"; }
check fleet-enroll-host-receives poll 30 e_received
e_no_grant() {
        ! hctl e grant "$U1" --scope x:y --ttl 1m --reason r --fleet >"$TMP/e.out" 2>&1 &&
                grep -q "credentials are read-only" "$TMP/e.out"
}
check fleet-enroll-host-cannot-grant e_no_grant || show "$TMP/e.out"
e_no_other() {
        ! ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints "$ETCD_ENDPOINT" --user "$(cat "$TMP/e.cred")" \
                put /enrich-test/hosts/host-a forged >/dev/null 2>&1
}
check fleet-enroll-host-cannot-write-others e_no_other
# --- enrolments/ is the issuers' alone: a host cannot vouch for its own
# key; the issuer with write credentials can, the read-only one cannot
e_no_enrol() {
        ! ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints "$ETCD_ENDPOINT" --user "$(cat "$TMP/e.cred")" \
                put /enrich-test/enrolments/host-e forged >/dev/null 2>&1
}
check fleet-enroll-host-cannot-enrol-itself e_no_enrol
KID_E=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["keys"][0]["kid"])' "$TMP/r.jwks")
a_enrols() {
        hctl a fleet enroll host-e --key "$KID_E" >"$TMP/enrol-e.out" 2>&1 &&
                etcdctl --user root:rootpw get --print-value-only /enrich-test/enrolments/host-e >"$TMP/enrol-e" &&
                $FLEET_TOOL payload "$(cat "$TMP/enrol-e")" | grep -q "$KID_E"
}
check fleet-enroll-key-by-issuer a_enrols || show "$TMP/enrol-e.out"
r_no_enrol() {
        ! hctl r fleet enroll host-e --key "$KID_E" >"$TMP/enrol-r.out" 2>&1 && grep -q "read-only" "$TMP/enrol-r.out"
}
check fleet-enroll-key-readonly-refused r_no_enrol || show "$TMP/enrol-r.out"

# --- a systemd credential ($CREDENTIALS_DIRECTORY/fleet.credentials, as
# LoadCredential= passes it) is read instead of the configured file: host s
# is configured with the wrong password, and its credential holds the right one
mkdir -p "$TMP/creds" && printf 'root:rootpw\n' >"$TMP/creds/fleet.credentials" &&
        chmod 0600 "$TMP/creds/fleet.credentials" && cp "$TMP/a.pem" "$TMP/s.pem"
fleet_host s host-s '"admin"' "credentials = \"$TMP/w.cred\";"
configured() { "$ENRICHD" --check-config "$TMP/s/enrichd.conf" | grep -q "fleet credentials: $TMP/w.cred (fleet.credentials)"; }
check fleet-credentials-check-config-configured configured
from_systemd() {
        CREDENTIALS_DIRECTORY=$TMP/creds "$ENRICHD" --check-config "$TMP/s/enrichd.conf" |
                grep -q "fleet credentials: $TMP/creds/fleet.credentials (systemd credential"
}
check fleet-credentials-check-config-systemd from_systemd
check fleet-credentials-systemd-host-starts eval 'CREDENTIALS_DIRECTORY=$TMP/creds host_start s'
s_grant() { hctl s grant "$U2" --scope cred:ok --ttl 5m --reason "systemd credential" --fleet >"$TMP/s.out" 2>&1; }
check fleet-credentials-systemd-used s_grant || show "$TMP/s.out"
s_doctor() { hctl s doctor >"$TMP/s-doctor.out" 2>&1; grep -q "read from $TMP/creds/fleet.credentials (a systemd credential)" "$TMP/s-doctor.out"; }
check fleet-credentials-doctor-names-source s_doctor || show "$TMP/s-doctor.out"
host_stop s
host_stop e
host_stop a
host_stop r
host_stop w
exit "$FAILED"
