[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# audit_bounds.sh: the audit trail stands up to its own users, against a
# real enrichd and its sqlite file:
# - a flood of 5,000 refused calls from one user adds one row at once and
#   one summary row (count, first/last) per window when it closes, not a
#   row per call, and every refusal is counted; a refusal in a later window
#   gets its row again; counted refusals are written at shutdown too;
# - 2,000+ rows list completely with `enrichctl audit` and --json (pages
#   followed by cursor, no "reply too large"), --limit N gives the newest N,
#   and one AuditList reply stays under the message limit;
# - a user reading rows about itself does not see who disabled it or
#   granted it something, nor the reason; an admin does;
# - rows and checkpoints cut from the end while the daemon is down are
#   found at start (logged) and by verify (kind "truncated"), across a
#   restart, until an admin's checkpoint; an honest trail verifies after
#   restarts and after a fresh database; a trail longer than a verify page
#   is walked page by page and an edit late in it is named.
. "$(dirname "$0")/lib.sh"

CHECKS="ab-flood-all-refused ab-flood-one-row-at-once ab-flood-summary-row ab-flood-summary-counts
ab-flood-bounded ab-flood-next-window-row ab-list-rows-made ab-list-all-text ab-list-all-json
ab-list-limit-newest ab-list-page-bounded ab-list-page-next ab-redact-user-sees-row ab-redact-no-actor
ab-redact-no-reason ab-redact-grant-reason ab-redact-own-rows-kept ab-redact-admin-sees-all
ab-honest-verifies-after-restart ab-shutdown-flushes-refusals ab-head-file-written
ab-truncation-logged ab-truncation-detected ab-truncation-persists ab-truncation-acknowledged
ab-verify-pages ab-verify-pages-late-edit ab-fresh-database-verifies daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
ADMIN_GROUP=ab-admins-$$
ADMIN=ab-admin-$$
enrich_add_user "$ADMIN" || { fail setup-users "useradd $ADMIN"; exit 1; }
enrich_add_group "$ADMIN_GROUP" "$ADMIN" || { fail setup-group "groupadd"; exit 1; }
DB=$TMP/state/enrich.db
enrich_write_config <<CONF
admin_group = "$ADMIN_GROUP";
audit_refusal_window = 5;
CONF
enrich_start_daemon || { fail daemon-starts "enrichd did not start"; exit 1; }

q() { sqlite3 -cmd ".timeout 5000" "$DB" "$1"; }
many_as() { local u=$1; shift; as_user "$u" "$PY" "$HERE/varlink_many.py" "$SOCK" "$@"; }
jq_() { "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

# ---- 1. a flood of refusals -------------------------------------------------
# pair_rows [WHERE]: rows of U1's refused Grant calls.
pair_rows() { q "SELECT count(*) FROM audit WHERE action = 'permission.denied' AND actor_uid = $U1_UID AND details LIKE '%io.enrich.Grant\"%' ${1:+AND $1}"; }
# accounted: refusals the rows stand for (a summary row its count, any other row one).
accounted() { q "SELECT coalesce(sum(coalesce(json_extract(details, '\$.count'), 1)), 0) FROM audit WHERE action = 'permission.denied' AND actor_uid = $U1_UID AND details LIKE '%io.enrich.Grant\"%'"; }
BEFORE=$(q "SELECT count(*) FROM audit")
T0=$(date +%s)
many_as "$U1" io.enrich.Grant "{\"user\":\"$U1\",\"scopes\":[\"x\"],\"ttl\":60,\"reason\":\"flood\"}" 5000 \
        >"$TMP/flood.json" 2>"$TMP/flood.err"
T1=$(date +%s)
check ab-flood-all-refused eval '[ "$(jq_ "$TMP/flood.json" "d[\"errors\"].get(\"io.enrich.PermissionDenied\")")" = 5000 ]' ||
        { show "$TMP/flood.json"; show "$TMP/flood.err"; }
# The first refusal's row is there at once (no waiting for a window).
check_eq ab-flood-one-row-at-once 1 "$(pair_rows "id = (SELECT min(id) FROM audit WHERE action = 'permission.denied' AND actor_uid = $U1_UID) AND json_extract(details, '\$.count') IS NULL")"
summary() { [ "$(accounted)" = 5000 ]; }
check ab-flood-summary-row poll 150 summary || echo "# $(accounted) of 5000 refusals accounted for"
check_eq ab-flood-summary-counts "0" \
        "$(pair_rows "json_extract(details, '\$.count') IS NOT NULL AND NOT (json_extract(details, '\$.first') <= json_extract(details, '\$.last') AND json_extract(details, '\$.count') > 0)")"
# At most an immediate and a summary row per window the flood spanned
# (window 5 s); and nothing else came of it.
AFTER=$(q "SELECT count(*) FROM audit")
MAXROWS=$((2 * ((T1 - T0) / 5 + 2)))
check ab-flood-bounded eval '[ "$(pair_rows)" -le "$MAXROWS" ] && [ $((AFTER - BEFORE)) = "$(pair_rows)" ]' ||
        echo "# $(pair_rows) rows for the pair ($((AFTER - BEFORE)) in all) for 5000 refusals in $((T1 - T0)) s"
ROWS=$(pair_rows)
many_as "$U1" io.enrich.Grant "{\"user\":\"$U1\",\"scopes\":[\"x\"],\"ttl\":60,\"reason\":\"later\"}" 1 >/dev/null
check_eq ab-flood-next-window-row "$((ROWS + 1)) 1" "$(pair_rows) $(pair_rows "id = (SELECT max(id) FROM audit) AND json_extract(details, '\$.count') IS NULL")"

# ---- 2. a long trail lists completely ---------------------------------------------
# Admin actions (root), each one row: enable a user that is not disabled.
many_as root io.enrich.Enable "{\"user\":\"$U2\"}" 2100 >"$TMP/enable.json" 2>&1
# The checkpoint those rows call for comes with a tick after them (on the
# checkpoint worker): the trail is counted once it has stopped growing.
TOTAL=-1
for _ in $(seq 1 40); do
        N=$(q "SELECT count(*) FROM audit")
        [ "$N" = "$TOTAL" ] && break
        TOTAL=$N
        sleep 0.5
done
check ab-list-rows-made eval '[ "$TOTAL" -gt 2100 ]' || show "$TMP/enable.json"
ctl audit >"$TMP/all.txt" 2>"$TMP/all.err"
# One header line, then a line per row.
check_eq ab-list-all-text "$TOTAL" "$(grep -vc '^ID  ' "$TMP/all.txt")" || show "$TMP/all.err"
ctl --json audit >"$TMP/all.json" 2>"$TMP/all.err"
check_eq ab-list-all-json "$TOTAL True" \
        "$(jq_ "$TMP/all.json" '"%d %s" % (len(d), [e["id"] for e in d] == sorted(set(e["id"] for e in d)))')" ||
        show "$TMP/all.err"
MAX=$(q "SELECT max(id) FROM audit")
ctl --json audit --limit 1500 >"$TMP/limit.json" 2>"$TMP/limit.err"
check_eq ab-list-limit-newest "1500 $((MAX - 1499)) $MAX" \
        "$(jq_ "$TMP/limit.json" '"%d %d %d" % (len(d), d[0]["id"], d[-1]["id"])')" || show "$TMP/limit.err"
"$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.AuditList '{}' >"$TMP/page.json"
# The reply as it travels (compact JSON), under the message limit.
check ab-list-page-bounded eval '[ "$(jq_ "$TMP/page.json" "len(json.dumps(d, separators=(\",\", \":\")))")" -lt 65536 ] &&
        [ "$(jq_ "$TMP/page.json" "len(d[\"parameters\"][\"entries\"])")" -ge 100 ]' || head -c 300 "$TMP/page.json"
check_eq ab-list-page-next True "$(jq_ "$TMP/page.json" 'isinstance(d["parameters"].get("next"), str)')"

# ---- 3. what a user sees of decisions about it -----------------------------------
ctl_as "$ADMIN" grant "$U1" --scope ab:scope --ttl 1h --reason "ab-grant-reason" >/dev/null 2>&1
ctl_as "$ADMIN" disable "$U1" --reason "ab-secret-reason" >/dev/null 2>&1
# Filtered reads, small whatever else the trail holds.
for a in identity.disabled grant.created permission.denied; do
        ctl_as "$U1" --json audit --action "$a" --limit 1 >"$TMP/own-$a.json" 2>>"$TMP/own.err"
done
row_of() { jq_ "$TMP/$1.json" "[e for e in d if e['action'] == '$2'][-1]" 2>/dev/null; }
check ab-redact-user-sees-row eval '[ -n "$(row_of own-identity.disabled identity.disabled)" ] &&
        [ -n "$(row_of own-grant.created grant.created)" ]' || show "$TMP/own.err"
check ab-redact-no-actor eval '[ "$(jq_ "$TMP/own-identity.disabled.json" "\" \".join(sorted(d[0]))")" = "action details id result time user" ] &&
        ! grep -q "$ADMIN" "$TMP/own-identity.disabled.json" "$TMP/own-grant.created.json"' ||
        show "$TMP/own-identity.disabled.json"
check ab-redact-no-reason eval '[ "$(jq_ "$TMP/own-identity.disabled.json" "\"reason\" in d[0][\"details\"]")" = False ] &&
        ! grep -q "ab-secret-reason" "$TMP/own-identity.disabled.json"'
check ab-redact-grant-reason eval '[ "$(jq_ "$TMP/own-grant.created.json" "d[0][\"details\"][\"scopes\"] == [\"ab:scope\"] and \"reason\" not in d[0][\"details\"]")" = True ]' ||
        show "$TMP/own-grant.created.json"
check ab-redact-own-rows-kept eval '[ "$(jq_ "$TMP/own-permission.denied.json" "d[0][\"actor\"]")" = "$U1" ]'
ctl --json audit --user "$U1" --since 1h --action identity.disabled >"$TMP/admin.json" 2>&1
ctl --json audit --user "$U1" --since 1h --action grant.created >>"$TMP/admin.json" 2>&1
check ab-redact-admin-sees-all eval 'grep -q "ab-secret-reason" "$TMP/admin.json" && grep -q "ab-grant-reason" "$TMP/admin.json" &&
        grep -q "\"actor\": \"$ADMIN\"" "$TMP/admin.json"'
ctl enable "$U1" >/dev/null

# ---- 4. truncation -------------------------------------------------------------
verify_json() { ctl --json audit verify >"$TMP/verify.json" 2>"$TMP/verify.err"; }
verifies() { verify_json && [ "$(jq_ "$TMP/verify.json" 'd["ok"]')" = True ]; }
ctl audit checkpoint >/dev/null
# Refusals counted when the daemon stops are written before its last checkpoint.
many_as "$U2" io.enrich.Reload '{}' 5 >/dev/null
enrich_stop_daemon
check_eq ab-shutdown-flushes-refusals 4 \
        "$(q "SELECT json_extract(details, '\$.count') FROM audit WHERE action = 'permission.denied' AND actor_uid = $U2_UID AND json_extract(details, '\$.count') IS NOT NULL")"
LAST_CP=$(q "SELECT max(row_id) FROM audit_checkpoints")
check ab-head-file-written grep -qx "row $LAST_CP" "$TMP/state/audit.head" || show "$TMP/state/audit.head"
enrich_start_daemon || fail daemon-restarts "enrichd did not restart"
check ab-honest-verifies-after-restart verifies || show "$TMP/verify.json"
enrich_stop_daemon
# Cut the end: rows and checkpoints after N, as someone with the file would.
N=$(q "SELECT max(row_id) FROM audit_checkpoints WHERE row_id < $((LAST_CP - 100))")
[ -n "$N" ] || N=$((LAST_CP - 100))
q "DELETE FROM audit WHERE id > $N; DELETE FROM audit_checkpoints WHERE row_id > $N;"
: >"$TMP/enrichd.log"
enrich_start_daemon || fail daemon-restarts "enrichd did not restart"
check ab-truncation-logged grep -q "truncated" "$TMP/enrichd.log" || show "$TMP/enrichd.log"
# truncated [ID]: verify exits 1 with kind "truncated" (at row ID).
truncated() {
        verify_json; local rc=$?
        [ "$rc" = 1 ] && [ "$(jq_ "$TMP/verify.json" 'd["kind"]')" = truncated ] &&
                { [ -z "$1" ] || [ "$(jq_ "$TMP/verify.json" 'd["badId"]')" = "$1" ]; } &&
                grep -q "truncated" "$TMP/verify.err"
}
check ab-truncation-detected truncated $((N + 1)) || { show "$TMP/verify.json"; show "$TMP/verify.err"; }
# The daemon's own rows since (its shutdown checkpoint) do not hide it.
enrich_stop_daemon
enrich_start_daemon || fail daemon-restarts "enrichd did not restart"
check ab-truncation-persists truncated || show "$TMP/verify.json"
ctl audit checkpoint >/dev/null
check ab-truncation-acknowledged verifies || show "$TMP/verify.json"
# A trail longer than one AuditVerify page (50,000 rows): appended with the
# documented encoding while the daemon is down, walked page by page, and
# an edit on the second page is still named.
enrich_stop_daemon
"$PY" - "$DB" <<'PY'
import hashlib, json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
first, prev = db.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
rows = []
for i in range(first + 1, first + 60001):
    r = {"id": i, "time": int(time.time()), "actor_uid": 0, "actor_name": "root", "subject": "ab",
         "action": "identity.enabled", "result": "ok", "details": '{"wasDisabled":false}', "prev_hash": prev}
    h = hashlib.sha256(bytes.fromhex(prev) + json.dumps(r, separators=(",", ":"), sort_keys=True).encode()).hexdigest()
    rows.append((i, r["time"], 0, "root", "ab", r["action"], "ok", r["details"], prev, h))
    prev = h
db.executemany("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
PY
enrich_start_daemon || fail daemon-restarts "enrichd did not restart"
check ab-verify-pages eval 'verifies && [ "$(jq_ "$TMP/verify.json" "d[\"rows\"]")" -gt 60000 ]' || show "$TMP/verify.json"
LATE=$(q "SELECT max(id) - 10 FROM audit")
q "UPDATE audit SET subject = 'mallory' WHERE id = $LATE"
check ab-verify-pages-late-edit eval '! verify_json && [ "$(jq_ "$TMP/verify.json" "d[\"kind\"] + \" \" + str(d[\"badId\"])")" = "modified $LATE" ]' ||
        show "$TMP/verify.json"
q "UPDATE audit SET subject = 'ab' WHERE id = $LATE"
# A fresh database beside the old record: a new trail, not a truncation.
enrich_stop_daemon
rm -f "$DB" "$DB-wal" "$DB-shm"
enrich_start_daemon || fail daemon-restarts "enrichd did not restart"
ctl grant "$U1" --scope ab:fresh --ttl 1h --reason "fresh" >/dev/null 2>&1
check ab-fresh-database-verifies verifies || { show "$TMP/verify.json"; tail -n 5 "$TMP/enrichd.log"; }
enrich_finish
