[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# audit.sh: the tamper-evident audit trail against a real enrichd, real PAM
# sessions and the real sqlite file: every decision leaves its row (and a
# journal/stderr event with ENRICH_ACTION and the other fields); `enrichctl
# audit verify` passes on the honest log and, after each edit made directly
# in sqlite (a field updated, a row deleted, a forged row inserted, two rows
# swapped, a checkpoint signature altered), fails naming the row and the
# kind of edit; each edit undone, it passes again. The edits are made while
# the daemon runs: it keeps no copy of the rows, so it judges what is on
# disk, as an admin's later `audit verify` would. Retention: rows are aged
# (times rewritten and the chain recomputed with the documented encoding,
# daemon stopped, checkpoints dropped; the daemon has no clock hook), then a
# checkpoint makes them due, the tick prunes them, and what remains
# verifies.
# Secrets never reach a row or the log; non-admins are refused, audited.
. "$(dirname "$0")/lib.sh"

ACTIONS="enrich.issued enrich.refused session.refreshed session.revoked session.ended grant.created
grant.revoked grant.expired token.issued token.used token.rejected token.revoked token.rotated
token.unlocked identity.disabled identity.enabled login.refused permission.denied config.reloaded
config.rejected audit.checkpoint"
CHECKS="$(for a in $ACTIONS; do printf 'eu6-row-%s ' "$a"; done)
eu6-enrich-row-has-jti-and-rules eu6-refresh-row-has-new-jti eu6-grant-row-has-reason eu6-denied-row-names-method
eu6-journal-fields eu6-list-limit eu6-list-since eu6-follow-streams eu6-user-reads-own-rows
eu6-nonadmin-other-user-refused eu6-nonadmin-verify-refused eu6-nonadmin-checkpoint-refused
eu6-secret-not-in-audit eu6-verifier-not-in-audit eu6-secret-not-in-log eu6-verifier-not-in-log
eu6-verify-honest eu6-stored-hashes-recompute
eu6-tamper-update-detected eu6-tamper-update-restored eu6-tamper-delete-detected eu6-tamper-delete-restored
eu6-tamper-forge-middle-detected eu6-tamper-forge-middle-restored eu6-tamper-forge-end-detected
eu6-tamper-forge-end-restored eu6-tamper-swap-detected eu6-tamper-swap-restored
eu6-tamper-signature-detected eu6-tamper-signature-restored eu6-checkpoint-refused-while-tampered
eu6-prune-removes-old-rows eu6-prune-keeps-anchor eu6-prune-verifies eu6-prune-then-new-rows-verify
eu6-prune-anchor-removed-detected eu6-verify-after-restart daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
SVC=eu6-svc-$$
ADMIN_GROUP=eu6-admins-$$
enrich_add_user "$SVC" || { fail setup-users "useradd $SVC"; exit 1; }
enrich_add_group "$ADMIN_GROUP" || { fail setup-group "groupadd"; exit 1; }
DB=$TMP/state/enrich.db
TOOL() { "$PY" "$HERE/audit_tool.py" "$DB" "$@"; }
# q SQL: one value from the database.
q() { "$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$DB" "$1"; }
write_config() {        # write_config [EXTRA SETTINGS]
        enrich_write_config <<CONF
claims_ttl = 6;
max_ttl = 3600;
admin_group = "$ADMIN_GROUP";
$1
rules = (
  { name = "eu6-rule";
    match = { services = ["enrich-test", "eu6-svc"]; };
    grant = { groups = ["g-eu6"]; scopes = ["s:read"]; };
  }
);
CONF
}
write_config
cat >"$PAMDIR/eu6-svc" <<PAM
auth     required $BUILD/pam_enrich.so socket=$SOCK prompt
account  required $BUILD/pam_enrich.so socket=$SOCK
session  required pam_permit.so
session  required $BUILD/pam_enrich.so socket=$SOCK
PAM
enrich_start_daemon || { fail daemon-starts "enrichd did not start"; exit 1; }

# rows ACTION [PYTHON-EXPR]: the rows of ACTION (as root, through enrichctl),
# one JSON object per line; with EXPR, only those where it holds for e.
rows() {
        ctl --json audit --action "$1" --limit 10000 | "$PY" -c 'import json, sys
for e in json.load(sys.stdin):
    if eval(sys.argv[1]): print(json.dumps(e))' "${2:-True}"
}
has_row() { [ -n "$(rows "$@")" ]; }
json_get() { "$PY" -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1:]: v=v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$@"; }

# --- every decision, driven for real ---------------------------------------
session_open s1 "$U1" $AUDIT_FLAG || fail setup-session "s1"
SID=$(ctl --json sessions "$U1" | json_get sessions 0 sid)
# claims_ttl 6: the daemon refreshes the key after 4 s (a short ttl lets a
# loaded machine expire the token before the module attaches the key).
poll 300 has_row session.refreshed "e.get('user') == '$U1'"
ctl grant "$U1" --scope eu6:short --ttl 2 --reason "eu6 short" >/dev/null 2>&1
poll 100 has_row grant.expired "e.get('user') == '$U1'"
GID2=$(ctl --json grant "$U1" --scope eu6:long --ttl 1h --reason "INC-eu6" 2>/dev/null | json_get id)
ctl revoke "$GID2" >/dev/null
ctl revoke --session "$SID" >/dev/null
session_close s1
session_open s2 "$U2" $AUDIT_FLAG || fail setup-session "s2"
session_close s2
# Tokens: issue, use, a wrong secret, unlock, rotate, revoke.
TOKEN=$(ctl token issue "$SVC" --ttl 1h --scope s:read 2>/dev/null)
TID=${TOKEN#enr_}; TID=${TID%%_*}
SECRET=${TOKEN:21}
VERIFIER=$("$PY" -c 'import base64, hashlib, sys
print(base64.urlsafe_b64encode(hashlib.sha256(b"enrich-token-v1:" + sys.argv[1].encode()).digest()).decode().rstrip("="))' "$SECRET")
login() {
        EU6_SECRET=$2 "$PAM_SESSION" --confdir "$PAMDIR" --service eu6-svc --user "$SVC" \
                --authenticate --password-from-env EU6_SECRET --acct-mgmt -- true >"$TMP/$1.out" 2>"$TMP/$1.err"
}
login tok-ok "$TOKEN" || { echo "# token login failed"; show "$TMP/tok-ok.err"; }
login tok-bad "enr_${TID}_$(printf 'A%.0s' $(seq 43))"
ctl token unlock "$SVC" >/dev/null
ctl token rotate "$TID" >/dev/null 2>&1
ctl token revoke "$TID" >/dev/null
# Disable, a refused login and enrichment of the disabled user, enable.
ctl disable "$U2" --reason "eu6 offboarding" >/dev/null
"$PAM_SESSION" --confdir "$PAMDIR" --service eu6-svc --user "$U2" --acct-mgmt -- true >/dev/null 2>&1
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U2" -- true >/dev/null 2>&1
ctl enable "$U2" >/dev/null
# Permission denied: a plain user asks for what admins may do.
ctl_as "$U1" audit verify >"$TMP/nonadmin-verify.out" 2>&1; NV=$?
ctl_as "$U1" audit checkpoint >/dev/null 2>&1; NC=$?
ctl_as "$U1" audit --user "$U2" >/dev/null 2>&1; NO=$?
# Reload: good, bad (the running config stays), SIGHUP.
ctl reload >/dev/null
cp "$TMP/enrichd.conf" "$TMP/good.conf"
echo 'claims_ttl = "not a number";' >>"$TMP/enrichd.conf"
ctl reload >/dev/null 2>&1
cp "$TMP/good.conf" "$TMP/enrichd.conf"
kill -HUP "$DAEMON_PID"
poll 50 has_row config.reloaded "e['details'].get('trigger') == 'SIGHUP'"
CP_ROW=$(ctl --json audit checkpoint | json_get rowId)

for a in $ACTIONS; do
        check "eu6-row-$a" has_row "$a" || tail -n 20 "$TMP/enrichd.log" | sed 's/^/#   /'
done
JTI=$(rows enrich.issued "e.get('user') == '$U1'" | head -n1 | json_get details jti)
check eu6-enrich-row-has-jti-and-rules has_row enrich.issued \
        "e['details'].get('sid') == '$SID' and e['details'].get('jti') and e['details']['rules'] == ['eu6-rule'] and e['details']['groups'] == ['g-eu6'] and e['actor'] == 'root'"
check eu6-refresh-row-has-new-jti has_row session.refreshed \
        "e['details'].get('sid') == '$SID' and e['details'].get('jti') not in (None, '$JTI') and e['actor'] == 'enrichd'"
check eu6-grant-row-has-reason has_row grant.created \
        "e['details'].get('grantId') == '$GID2' and e['details'].get('reason') == 'INC-eu6' and e['user'] == '$U1'"
check eu6-denied-row-names-method has_row permission.denied \
        "e['details'].get('method') == 'io.enrich.AuditVerify' and e['actor'] == '$U1' and e['result'] == 'denied'"
journal_fields() {
        grep "ENRICH_ACTION=enrich.issued" "$TMP/enrichd.log" | grep "ENRICH_USER=$U1" | grep "ENRICH_SID=$SID" |
                grep -q "ENRICH_JTI=$JTI"
}
check eu6-journal-fields journal_fields || grep ENRICH_ACTION "$TMP/enrichd.log" | head -n3 | sed 's/^/#   /'
count() { "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
check eu6-list-limit eval '[ "$(ctl --json audit --limit 3 | count)" = 3 ]'
sleep 2         # so that nothing but what follows is younger than 1s
ALL_ROWS=$(ctl --json audit | count)
check eu6-list-since eval '[ "$ALL_ROWS" -gt 20 ] && [ "$(ctl --json audit --since 1h | count)" = "$ALL_ROWS" ] &&
        [ "$(ctl --json audit --since 1s --action token.issued | count)" = 0 ]' ||
        echo "# $ALL_ROWS rows, $(ctl --json audit --since 1h | count) in the last hour, $(ctl --json audit --since 1s --action token.issued | count) tokens in 1s"
ctl --json audit --follow --action grant.created >"$TMP/follow.out" 2>&1 &
FOLLOW=$!
CLEANUP_PIDS="$CLEANUP_PIDS $FOLLOW"
sleep 1
ctl grant "$U1" --scope eu6:followed --ttl 1h --reason "eu6 follow" >/dev/null 2>&1
check eu6-follow-streams poll 50 grep -q 'eu6 follow' "$TMP/follow.out" || show "$TMP/follow.out"
kill "$FOLLOW" 2>/dev/null
ctl_as "$U1" --json audit >"$TMP/own.json" 2>&1
check eu6-user-reads-own-rows "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r and all(e.get("user")==sys.argv[2] for e in r) else 1)' "$TMP/own.json" "$U1" ||
        show "$TMP/own.json"
check eu6-nonadmin-other-user-refused test "$NO" = 1
check eu6-nonadmin-verify-refused eval '[ "$NV" = 1 ] && grep -q "permission denied" "$TMP/nonadmin-verify.out"'
check eu6-nonadmin-checkpoint-refused test "$NC" = 1
check_not eu6-secret-not-in-audit TOOL grep "$SECRET"
check_not eu6-verifier-not-in-audit TOOL grep "$VERIFIER"
check_not eu6-secret-not-in-log grep -qF -- "$SECRET" "$TMP/enrichd.log"
check_not eu6-verifier-not-in-log grep -qF -- "$VERIFIER" "$TMP/enrichd.log"

# --- verification, and each edit made behind the daemon's back ---------------
# No live session remains, so nothing writes while the edits are made.
verify_json() { ctl --json audit verify >"$TMP/verify.json" 2>"$TMP/verify.err"; }
verifies() { verify_json && "$PY" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["ok"] else 1)' "$TMP/verify.json"; }
# fails_at ID KIND: verify exits 1 and names row ID with KIND.
fails_at() {
        verify_json; local rc=$?
        [ "$rc" = 1 ] && "$PY" -c 'import json,sys; v=json.load(open(sys.argv[1])); sys.exit(0 if not v["ok"] and v["badId"]==int(sys.argv[2]) and v["kind"]==sys.argv[3] else 1)' \
                "$TMP/verify.json" "$1" "$2" && grep -q "row $1 $2" "$TMP/verify.err"
}
check eu6-verify-honest verifies || { show "$TMP/verify.json"; show "$TMP/verify.err"; }
check eu6-stored-hashes-recompute TOOL hash-ok
M=$((CP_ROW - 5))
tamper() {      # tamper NAME EDIT ARG EXPECTED-ID EXPECTED-KIND
        # shellcheck disable=SC2086 # ARG is one word or none
        TOOL "$2" $3
        check "eu6-tamper-$1-detected" fails_at "$4" "$5" || { show "$TMP/verify.json"; show "$TMP/verify.err"; }
        TOOL restore
        check "eu6-tamper-$1-restored" verifies || show "$TMP/verify.json"
}
tamper update update "$M" "$M" modified
tamper delete delete "$M" "$M" deleted
tamper forge-middle forge-middle "$M" "$M" inserted
LAST=$(q "SELECT max(id) FROM audit")
tamper forge-end forge-end "" $((LAST + 1)) inserted
tamper swap swap "$M" "$M" reordered
TOOL sig "$CP_ROW"
check eu6-tamper-signature-detected fails_at "$CP_ROW" checkpoint || show "$TMP/verify.json"
check_not eu6-checkpoint-refused-while-tampered eval 'ctl audit checkpoint >/dev/null 2>&1'
TOOL restore
check eu6-tamper-signature-restored verifies || show "$TMP/verify.json"

# --- retention: rows aged 10 days, then pruned behind a fresh checkpoint -----
enrich_stop_daemon
TOOL age 10
write_config "audit_retention_days = 1;"
enrich_start_daemon || fail daemon-restarts "enrichd did not restart"
BEFORE=$(q "SELECT count(*) FROM audit")
ANCHOR=$(ctl --json audit checkpoint | json_get rowId)
CUTOFF=$(($(date +%s) - 86400))
# The checkpoint makes a retention run due; the daemon's tick makes it, a
# checkpoint interval at a time (here one: aging dropped the others).
for i in $(seq 100); do
        [ "$(q "SELECT min(id) FROM audit")" = "$ANCHOR" ] && break
        sleep 0.1
done
check eu6-prune-removes-old-rows eval '[ "$BEFORE" -gt 20 ] && [ "$(q "SELECT count(*) FROM audit WHERE time < $CUTOFF")" = 0 ]'
check eu6-prune-keeps-anchor eval '[ "$(q "SELECT min(id) FROM audit")" = "$ANCHOR" ] &&
        [ "$(q "SELECT count(*) FROM audit_checkpoints WHERE row_id = $ANCHOR")" = 1 ]'
check eu6-prune-verifies verifies || show "$TMP/verify.json"
ctl grant "$U1" --scope eu6:after --ttl 1h --reason "eu6 after prune" >/dev/null 2>&1
check eu6-prune-then-new-rows-verify verifies || show "$TMP/verify.json"
move_checkpoint() {
        "$PY" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("UPDATE audit_checkpoints SET row_id = ? WHERE row_id = ?", (int(sys.argv[3]), int(sys.argv[2]))); c.commit()' "$DB" "$1" "$2"
}
move_checkpoint "$ANCHOR" "-$ANCHOR"
check eu6-prune-anchor-removed-detected fails_at $((ANCHOR - 1)) deleted || show "$TMP/verify.json"
move_checkpoint "-$ANCHOR" "$ANCHOR"
enrich_stop_daemon
enrich_start_daemon || fail daemon-restarts "enrichd did not restart"
check eu6-verify-after-restart verifies || show "$TMP/verify.json"
enrich_finish
