[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# late_user.sh: a fleet grant or token for a user a host does not know
# yet (no passwd entry) is kept there and applied once the account
# appears, without waiting for another change in etcd, also across a
# restart of the host; one whose key is deleted while waiting never is.
# Host a is the issuer; every host here shares this machine's passwd, so
# "not known on b" is "not created yet".
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-late-setup fleet-late-grant-kept fleet-late-grant-applied-after-useradd fleet-late-grant-live-key
fleet-late-token-applied-after-useradd fleet-late-restart-kept fleet-late-restart-applied-after-useradd
fleet-late-deleted-not-applied"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_pair || exit 1
check fleet-late-setup eval 'host_start a && host_start b' || { show "$TMP/b/enrichd.log"; exit 1; }
L1=enrich-l1-$$ L2=enrich-l2-$$ L3=enrich-l3-$$ L4=enrich-l4-$$
# grants_on_b USER ID: b holds grant (or token) ID for USER.
grant_on_b() { hctl b grants --json --user "$1" 2>/dev/null | grep -q "\"$2\""; }
token_on_b() { hctl b token list --json 2>/dev/null | grep -q "\"$1\""; }

# --- a grant for a user not yet created: kept on b, applied after useradd
G1=$(hctl a grant "$L1" --scope late:1 --ttl 10m --reason late --fleet 2>"$TMP/g1.err")
check fleet-late-grant-kept poll 30 host_log_has b "Fleet grant $G1 is for $L1, whom this host does not know yet" ||
        { show "$TMP/g1.err"; show "$TMP/b/enrichd.log"; }
# A token record for L2 signed by a's key (the issuer host itself refuses
# to issue a token for a user it does not know).
TID=0123456789abcdef
TOKEN_RECORD=$($PY -c 'import base64, hashlib, json, sys, time
now = int(time.time())
digest = base64.urlsafe_b64encode(hashlib.sha256(b"late").digest()).decode().rstrip("=")
print(json.dumps({"id": sys.argv[1], "user": sys.argv[2], "verifierSha256": digest, "scopes": "late:tok",
                  "createdBy": "fleet-test", "created": now, "expires": now + 600}))' "$TID" "$L2")
etcdctl put "/enrich-test/tokens/$TID" "$(signed "$TMP/a.pem" "$TOKEN_RECORD")" >/dev/null
poll 30 host_log_has b "Fleet token $TID is for $L2" || show "$TMP/b/enrichd.log"
enrich_add_user "$L1" && enrich_add_user "$L2" || { fail fleet-late-useradd; exit 1; }
check fleet-late-grant-applied-after-useradd poll 50 grant_on_b "$L1" "$G1" || show "$TMP/b/enrichd.log"
use_host b
live_key() { session_open s1 "$L1" && has_scope "$(session_serial s1)" late:1; }
check fleet-late-grant-live-key live_key
check fleet-late-token-applied-after-useradd poll 50 token_on_b "$TID" || show "$TMP/b/enrichd.log"

# --- kept across a restart of b (which resumes from its revision)
G3=$(hctl a grant "$L3" --scope late:3 --ttl 10m --reason late --fleet 2>/dev/null)
check fleet-late-restart-kept poll 30 host_log_has b "Fleet grant $G3 is for $L3"
host_stop b
host_start b || { show "$TMP/b/enrichd.log"; exit 1; }
enrich_add_user "$L3" || { fail fleet-late-useradd; exit 1; }
check fleet-late-restart-applied-after-useradd poll 50 grant_on_b "$L3" "$G3" || show "$TMP/b/enrichd.log"

# --- deleted in etcd while waiting: never applied
G4=$(hctl a grant "$L4" --scope late:4 --ttl 10m --reason late --fleet 2>/dev/null)
poll 30 host_log_has b "Fleet grant $G4 is for $L4"
etcdctl del "/enrich-test/grants/$G4" >/dev/null
# The user appears once b has seen the deletion (not after a fixed 0.5 s
# a loaded machine may overrun): what is tested is a waiting grant that
# is gone, not a race between the delete and the useradd.
poll 100 host_log_has b "Fleet grant $G4, waiting for $L4, is gone" || show "$TMP/b/enrichd.log"
enrich_add_user "$L4" || { fail fleet-late-useradd; exit 1; }
sleep 4.5
check_not fleet-late-deleted-not-applied grant_on_b "$L4" "$G4"

session_close s1
host_stop a
host_stop b
exit "$FAILED"
