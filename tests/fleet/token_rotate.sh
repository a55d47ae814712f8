[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# token_rotate.sh: `enrichctl token rotate` of a fleet token reaches every
# host. A token issued with --fleet on issuer host a is rotated on a
# (no grace): the new signed record in etcd carries the new verifier's
# digest (never the secret), and on host b, through the real PAM module
# (auth + account), the new token logs in and the old one is refused; on a
# too. A rotation with a grace keeps the old secret working on b until the
# grace ends. A rotation record written back from before (replayed) does
# not bring an old secret back.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-rotate-setup fleet-rotate-old-logs-in-before fleet-rotate-answers fleet-rotate-record-hashed
fleet-rotate-new-logs-in-on-b fleet-rotate-old-refused-on-b fleet-rotate-old-refused-on-a
fleet-rotate-grace-old-still-on-b fleet-rotate-grace-new-on-b fleet-rotate-grace-ends-on-b
fleet-rotate-replay-ignored"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_pair || exit 1
check fleet-rotate-setup eval 'host_start a && host_start b' || exit 1

record_json() {
        etcdctl get "/enrich-test/tokens/$1" --print-value-only | $PY -c 'import base64, json, sys
p = sys.stdin.read().strip().split(".")[1]
print(json.dumps(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))))'
}

OLD=$(hctl a token issue "$U1" --ttl 10m --scope rot:x --fleet 2>"$TMP/issue.err")
ID=$(printf '%s' "$OLD" | cut -c5-20)
on_b() { hctl b token list --json 2>/dev/null | grep -q "\"$ID\""; }
poll 30 on_b || show "$TMP/issue.err"
check fleet-rotate-old-logs-in-before poll 10 token_login b before "$OLD"
etcdctl get "/enrich-test/tokens/$ID" --print-value-only >"$TMP/record.before"

# --- rotated on a without grace: b takes the new secret, drops the old
NEW=$(hctl a token rotate "$ID" 2>"$TMP/rotate.err")
answered() { [ "${NEW#enr_"$ID"_}" != "$NEW" ] && [ "$NEW" != "$OLD" ]; }
check fleet-rotate-answers answered || show "$TMP/rotate.err"
hashed() {
        record_json "$ID" >"$TMP/rotated.json" && $PY - "$TMP/rotated.json" "${NEW#enr_*_}" "$ID" <<'EOP'
import json, sys
p = json.load(open(sys.argv[1]))
assert p["id"] == sys.argv[3] and p.get("rotated") and len(p["verifierSha256"]) == 43, p
assert sys.argv[2] not in json.dumps(p), "secret in the record"
EOP
}
check fleet-rotate-record-hashed hashed || show "$TMP/rotated.json"
check fleet-rotate-new-logs-in-on-b poll 30 token_login b new "$NEW" || { show "$TMP/new.err"; show "$TMP/b/enrichd.log"; }
# Failed attempts lock a token: each refusal below is for the secret
# itself, not a lock left by the polling before it.
hctl a token unlock "$U1" >/dev/null 2>&1
hctl b token unlock "$U1" >/dev/null 2>&1
check fleet-rotate-old-refused-on-b token_refused b old "$OLD" || show "$TMP/old.err"
check fleet-rotate-old-refused-on-a token_refused a old-a "$OLD" || show "$TMP/old-a.err"
hctl a token unlock "$U1" >/dev/null 2>&1
hctl b token unlock "$U1" >/dev/null 2>&1

# --- rotated again with a grace: both secrets work on b until it ends.
# The grace (6 s, ending at a whole second: over 5 s) must hold b's copy of
# the rotation and two logins; waiting for that copy by logging in would
# spend the grace on failed logins' delays, so the wait reads b's token
# list instead, and the check after the grace waits for the end b holds.
grace_on_b() {
        hctl b token list --json 2>/dev/null | $PY -c 'import json, sys
t = [t for t in json.load(sys.stdin)["tokens"] if t["id"] == sys.argv[1]]
g = t[0].get("graceUntil") if t else None
if not g: sys.exit(1)
print(g)' "$ID"
}
NEWER=$(hctl a token rotate "$ID" --grace 6s 2>"$TMP/rotate2.err")
poll 100 grace_on_b >/dev/null || show "$TMP/b/enrichd.log"
GRACE_END=$(grace_on_b)
check fleet-rotate-grace-new-on-b poll 30 token_login b newer "$NEWER" || { show "$TMP/rotate2.err"; show "$TMP/newer.err"; }
check fleet-rotate-grace-old-still-on-b token_login b within-grace "$NEW" || show "$TMP/within-grace.err"
while [ "$(date +%s%3N)" -lt $((${GRACE_END:-0} * 1000 + 200)) ]; do sleep 0.1; done
hctl b token unlock "$U1" >/dev/null 2>&1
check fleet-rotate-grace-ends-on-b token_refused b after-grace "$NEW" || show "$TMP/after-grace.err"
hctl b token unlock "$U1" >/dev/null 2>&1

# --- the first record written back (a replay) changes nothing on b
etcdctl put "/enrich-test/tokens/$ID" "$(cat "$TMP/record.before")" >/dev/null
sleep 0.7
hctl b token unlock "$U1" >/dev/null 2>&1
replay_ignored() { token_refused b replayed "$OLD" && token_login b still-newer "$NEWER"; }
check fleet-rotate-replay-ignored replay_ignored || show "$TMP/replayed.err"
host_stop a
host_stop b
exit "$FAILED"
