[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# revocations.sh: a fleet revocation leaves a tombstone. `enrichctl revoke`
# and `token revoke` on the issuer (host a) put a signed revocation at
# revoked/grants/<id> and revoked/tokens/<id> before deleting the record;
# a host that never saw the grant or token (c, started afterwards with a
# fresh state) refuses the old signed record when an etcd writer puts it
# back, also once the revoked/ keys are deleted; a record that waited on
# b for a user b did not know yet and was deleted (seen by the watch, or
# missing from a full read after a compaction) is not applied when it is
# written back and the user appears; an unsigned or foreign-signed
# revocation is ignored and leaves no row.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-rev-hosts-start fleet-rev-token-logs-in-on-b fleet-rev-issuer-answer fleet-rev-grant-revocation-signed fleet-rev-grant-revocation-on-lease
fleet-rev-token-revocation-signed fleet-rev-not-held-revocation-expiry fleet-rev-new-host-refuses-not-held-grant
fleet-rev-new-host-starts fleet-rev-new-host-refuses-grant-logged
fleet-rev-new-host-refuses-grant fleet-rev-new-host-no-scope fleet-rev-holder-refuses-grant
fleet-rev-new-host-refuses-token-logged fleet-rev-new-host-refuses-token fleet-rev-token-login-refused
fleet-rev-key-deleted-still-refused-grant fleet-rev-key-deleted-still-refused-token
fleet-rev-key-deleted-restart-still-refused fleet-rev-waiting-deleted-not-applied
fleet-rev-waiting-resync-not-applied fleet-rev-non-issuer-deletes-only fleet-rev-unsigned-logged fleet-rev-rogue-logged fleet-rev-unsigned-no-row
fleet-rev-unsigned-changes-nothing"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_pair || exit 1
fleet_host c host-c '"web"'
check fleet-rev-hosts-start eval 'host_start a && host_start b' || exit 1
P=/enrich-test/

grant_on() { hctl "$1" grants --all --json --user "$2" 2>/dev/null | grep -q "\"$3\""; }
token_on() { hctl "$1" token list --json 2>/dev/null | grep -q "\"$2\""; }
rows() { sqlite3 "$TMP/$1/state/enrich.db" "$2" 2>/dev/null; }
# payload_is FILE KID PY-EXPR: FILE holds a JWS of typ enrich-fleet+jwt by
# kid KID whose payload p satisfies PY-EXPR.
payload_is() {
        $PY - "$1" "$2" "$3" <<'EOP'
import base64, json, sys
h, p, _ = open(sys.argv[1]).read().strip().split(".")
d = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
h, p = d(h), d(p)
assert h["typ"] == "enrich-fleet+jwt" and h["kid"] == sys.argv[2], h
assert eval(sys.argv[3]), p
EOP
}
KID=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["keys"][0]["kid"])' "$TMP/a.jwks")

# --- a grant and a token reach b, then a revokes both
G1=$(hctl a grant "$U1" --scope rev:grant --ttl 20m --reason rev --fleet 2>"$TMP/g1.err")
TOKEN=$(hctl a token issue "$U1" --ttl 20m --scope rev:tok --fleet 2>"$TMP/t1.err")
T1=$(printf '%s' "$TOKEN" | cut -c5-20)
poll 30 grant_on b "$U1" "$G1" && poll 30 token_on b "$T1" || { show "$TMP/g1.err"; show "$TMP/b/enrichd.log"; }
etcdctl get "${P}grants/$G1" --print-value-only >"$TMP/g1.record"
etcdctl get "${P}tokens/$T1" --print-value-only >"$TMP/t1.record"
check fleet-rev-token-logs-in-on-b token_login b login "$TOKEN" || show "$TMP/login.err"
hctl a revoke "$G1" >"$TMP/revoke.out" 2>&1
hctl a token revoke "$T1" >>"$TMP/revoke.out" 2>&1
# The issuer's own answer says it revoked them (not "already revoked"):
# the watch left its own revocation records to the call.
check fleet-rev-issuer-answer eval '[ "$(grep -c -i revoked "$TMP/revoke.out")" = 2 ] && ! grep -q -i already "$TMP/revoke.out"' ||
        show "$TMP/revoke.out"
etcdctl get "${P}revoked/grants/$G1" --print-value-only >"$TMP/g1.revoked"
etcdctl get "${P}revoked/tokens/$T1" --print-value-only >"$TMP/t1.revoked"
check fleet-rev-grant-revocation-signed payload_is "$TMP/g1.revoked" "$KID" \
        "p['id'] == '$G1' and p['kind'] == 'grant' and p['expires'] > p['revoked'] + 1000 and p['issuer'] == 'host-a'" ||
        { show "$TMP/revoke.out"; show "$TMP/g1.revoked"; show "$TMP/a/enrichd.log"; }
# The lease lasts until the grant's expiry (20 min) plus the margin.
lease_ttl() {
        local lease
        lease=$(etcdctl get "${P}revoked/grants/$G1" -w json | $PY -c 'import json, sys
print("%x" % json.load(sys.stdin)["kvs"][0]["lease"])') &&
                etcdctl lease timetolive "$lease" | grep -Eq 'remaining\(1[2-5][0-9][0-9]s\)'
}
check fleet-rev-grant-revocation-on-lease lease_ttl || etcdctl get "${P}revoked/grants/$G1" -w json
check fleet-rev-token-revocation-signed payload_is "$TMP/t1.revoked" "$KID" \
        "p['id'] == '$T1' and p['kind'] == 'token' and p['expires'] > p['revoked']" || show "$TMP/t1.revoked"
# A grant for other hosts' labels, which a does not hold: the revocation
# takes its expiry from the signed record in etcd.
G4=$(hctl a grant "$U1" --scope rev:web --ttl 25m --reason rev --fleet --hosts web 2>"$TMP/g4.err")
poll 30 grant_on b "$U1" "$G4" || show "$TMP/g4.err"
etcdctl get "${P}grants/$G4" --print-value-only >"$TMP/g4.record"
hctl a revoke "$G4" >"$TMP/revoke4.out" 2>&1
etcdctl get "${P}revoked/grants/$G4" --print-value-only >"$TMP/g4.revoked"
G4_EXPIRES=$($PY -c 'import base64, json, sys
p = open(sys.argv[1]).read().split(".")[1]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["expires"])' "$TMP/g4.record")
check fleet-rev-not-held-revocation-expiry payload_is "$TMP/g4.revoked" "$KID" \
        "p['id'] == '$G4' and p['kind'] == 'grant' and p['expires'] == $G4_EXPIRES" ||
        { show "$TMP/revoke4.out"; show "$TMP/g4.revoked"; show "$TMP/a/enrichd.log"; }
gone_on_b() { ! etcdctl get "${P}grants/$G1" --print-value-only | grep -q . && hctl b grants --all --json --user "$U1" | grep -A20 "\"$G1\"" | grep -q '"revoked"'; }
poll 30 gone_on_b || show "$TMP/b/enrichd.log"

# --- c joins now with a fresh state: it never saw G1 nor T1
check fleet-rev-new-host-starts eval 'host_start c && poll 50 host_log_has c "Read [0-9]* fleet records"' ||
        show "$TMP/c/enrichd.log"
# An etcd writer (no issuer key) puts the old signed records back.
etcdctl put "${P}grants/$G1" "$(cat "$TMP/g1.record")" >/dev/null
etcdctl put "${P}tokens/$T1" "$(cat "$TMP/t1.record")" >/dev/null
etcdctl put "${P}grants/$G4" "$(cat "$TMP/g4.record")" >/dev/null
check fleet-rev-new-host-refuses-grant-logged poll 30 host_log_has c \
        "Ignoring fleet record ${P}grants/$G1: grant $G1 was revoked in the fleet" || show "$TMP/c/enrichd.log"
check_not fleet-rev-new-host-refuses-grant grant_on c "$U1" "$G1"
check fleet-rev-new-host-refuses-not-held-grant eval 'poll 30 host_log_has c "grant $G4 was revoked in the fleet" && ! grant_on c "$U1" "$G4"' 
use_host c
session_open s1 "$U1" || { fail fleet-rev-session; }
# Claims from c (base:read from its rules), without the grant's scope.
check fleet-rev-new-host-no-scope eval 'has_scope "$(session_serial s1)" base:read && lacks_scope "$(session_serial s1)" rev:grant' 
session_close s1
# b held G1: it never took it back (as before), now with a journal line.
check fleet-rev-holder-refuses-grant eval '! hctl b grants --json --user "$U1" | grep -q "\"$G1\""'
check fleet-rev-new-host-refuses-token-logged poll 30 host_log_has c \
        "Ignoring fleet record ${P}tokens/$T1: token $T1 was revoked in the fleet" || show "$TMP/c/enrichd.log"
check_not fleet-rev-new-host-refuses-token token_on c "$T1"
check fleet-rev-token-login-refused token_refused c login "$TOKEN" || show "$TMP/login.err"

# --- the revoked/ keys deleted (by an etcd writer): c still refuses the
# records written back again, also after a restart
etcdctl del "${P}revoked/grants/$G1" >/dev/null
etcdctl del "${P}revoked/tokens/$T1" >/dev/null
etcdctl del "${P}grants/$G1" >/dev/null
etcdctl del "${P}tokens/$T1" >/dev/null
N=$(grep -c "Ignoring fleet record ${P}grants/$G1: grant $G1 was revoked" "$TMP/c/enrichd.log")
etcdctl put "${P}grants/$G1" "$(cat "$TMP/g1.record")" >/dev/null
etcdctl put "${P}tokens/$T1" "$(cat "$TMP/t1.record")" >/dev/null
refused_again() { [ "$(grep -c "Ignoring fleet record ${P}grants/$G1: grant $G1 was revoked" "$TMP/c/enrichd.log")" -gt "$N" ]; }
poll 30 refused_again
check fleet-rev-key-deleted-still-refused-grant eval 'refused_again && ! grant_on c "$U1" "$G1"' || show "$TMP/c/enrichd.log"
check fleet-rev-key-deleted-still-refused-token eval '! token_on c "$T1" && token_refused c login "$TOKEN"' || show "$TMP/c/enrichd.log"
host_stop c
# A full read on restart: etcd compacted past c's revision.
etcdctl put "${P}filler" y >/dev/null
REV=$(etcdctl endpoint status -w json | $PY -c 'import json, sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
etcdctl compact "$REV" >/dev/null
host_start c || show "$TMP/c/enrichd.log"
poll 50 host_log_has c "etcd compacted past revision"
sleep 1
check fleet-rev-key-deleted-restart-still-refused eval 'host_log_has c "etcd compacted past revision" && ! grant_on c "$U1" "$G1" && ! token_on c "$T1" && token_refused c login "$TOKEN"' ||
        show "$TMP/c/enrichd.log"

# --- a grant waiting on b for a user b does not know yet, deleted, then
# written back: not applied when the user appears
L1=enrich-r1-$$ L2=enrich-r2-$$
G2=$(hctl a grant "$L1" --scope rev:late --ttl 20m --reason rev --fleet 2>/dev/null)
poll 30 host_log_has b "Fleet grant $G2 is for $L1, whom this host does not know yet" || show "$TMP/b/enrichd.log"
etcdctl get "${P}grants/$G2" --print-value-only >"$TMP/g2.record"
etcdctl del "${P}grants/$G2" >/dev/null
poll 30 host_log_has b "Fleet grant $G2, waiting for $L1, is gone"
etcdctl put "${P}grants/$G2" "$(cat "$TMP/g2.record")" >/dev/null
enrich_add_user "$L1" || { fail fleet-rev-useradd; exit 1; }
sleep 5 # two rounds of the retry of waiting records (FLEET_RETRY_MS)
check_not fleet-rev-waiting-deleted-not-applied grant_on b "$L1" "$G2"

# --- the same when b learns of the deletion from a full read only
G3=$(hctl a grant "$L2" --scope rev:late --ttl 20m --reason rev --fleet 2>/dev/null)
poll 30 host_log_has b "Fleet grant $G3 is for $L2, whom this host does not know yet" || show "$TMP/b/enrichd.log"
etcdctl get "${P}grants/$G3" --print-value-only >"$TMP/g3.record"
host_stop b
etcdctl del "${P}grants/$G3" >/dev/null
etcdctl put "${P}filler" x >/dev/null
REV=$(etcdctl endpoint status -w json | $PY -c 'import json, sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
etcdctl compact "$REV" >/dev/null
host_start b || show "$TMP/b/enrichd.log"
poll 50 host_log_has b "Fleet grant $G3, waiting for $L2, is gone" || show "$TMP/b/enrichd.log"
etcdctl put "${P}grants/$G3" "$(cat "$TMP/g3.record")" >/dev/null
enrich_add_user "$L2" || { fail fleet-rev-useradd; exit 1; }
sleep 5
check_not fleet-rev-waiting-resync-not-applied grant_on b "$L2" "$G3"

# --- on b, whose key is no issuer, revoke deletes the record only (it
# removes access everywhere all the same)
G5=$(hctl a grant "$U1" --scope rev:b --ttl 20m --reason rev --fleet 2>/dev/null)
poll 30 grant_on b "$U1" "$G5"
non_issuer_revoke() {
        hctl b revoke "$G5" >"$TMP/revoke5.out" 2>&1 &&
                ! etcdctl get "${P}grants/$G5" --print-value-only | grep -q . &&
                ! etcdctl get "${P}revoked/grants/$G5" --print-value-only | grep -q . &&
                host_log_has b "no fleet issuer: deleting fleet grant $G5 without a signed revocation"
}
check fleet-rev-non-issuer-deletes-only non_issuer_revoke || { show "$TMP/revoke5.out"; show "$TMP/b/enrichd.log"; }

# --- an unsigned revocation and one signed by a key that is no issuer:
# ignored with a journal line, no row, and the grant they name applies
GX=unsignedRevokeX
etcdctl put "${P}revoked/grants/$GX" \
        "{\"id\":\"$GX\",\"kind\":\"grant\",\"revoked\":$(date +%s),\"expires\":$(($(date +%s) + 3600))}" >/dev/null
etcdctl put "${P}revoked/grants/rogueRevokeX" "$(signed "$TMP/rogue.pem" \
        "{\"id\":\"rogueRevokeX\",\"kind\":\"grant\",\"revoked\":$(date +%s),\"expires\":$(($(date +%s) + 3600))}")" >/dev/null
check fleet-rev-unsigned-logged poll 30 host_log_has b \
        "Ignoring fleet record ${P}revoked/grants/$GX: not a signed record" || show "$TMP/b/enrichd.log"
check fleet-rev-rogue-logged poll 30 host_log_has b \
        "Ignoring fleet record ${P}revoked/grants/rogueRevokeX: signed by a key that is not in fleet.issuers"
no_row() { [ "$(rows b "SELECT count(*) FROM fleet_revoked WHERE id IN ('$GX', 'rogueRevokeX')")" = 0 ]; }
check fleet-rev-unsigned-no-row no_row
etcdctl put "${P}grants/$GX" "$(signed "$TMP/a.pem" "$($FLEET_TOOL grant "$GX" "$U1" rev:x)")" >/dev/null
check fleet-rev-unsigned-changes-nothing poll 30 grant_on b "$U1" "$GX" || show "$TMP/b/enrichd.log"

host_stop a
host_stop b
host_stop c
exit "$FAILED"
