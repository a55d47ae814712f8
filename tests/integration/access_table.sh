[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# access_table.sh: the dispatch table's access rules, proved from the table
# itself (daemon/dispatch.c, read by access_table.py): every method is
# called as root, as an admin (a member of admin_group), as the owner of
# some rows and as a stranger, and each gets what its access class
# promises:
#   ACCESS_ANYONE         served for all four
#   ACCESS_ROOT           served for root only; PermissionDenied for the rest
#   ACCESS_ADMIN          served for root and the admin; denied for the rest
#   ACCESS_SELF_OR_ADMIN  asked about the owner's rows: root, the admin and
#                         the owner see them; the stranger is refused or
#                         sees none of them
# ("served" means anything but PermissionDenied: with no parameters most
# methods answer InvalidParameter, past the access check.) Every refusal
# leaves a permission.denied audit row naming the method and the caller.
. "$(dirname "$0")/lib.sh"

DISPATCH_C=$HERE/../../daemon/dispatch.c
CHECKS="table-read owner-has-rows access-root access-admin access-owner access-stranger
refusals-audited daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup

ADMIN_GROUP=enrich-tadm-$$
UA=enrich-ta-$$
if ! enrich_add_user "$UA" || ! enrich_add_group "$ADMIN_GROUP" "$UA"; then
        fail "setup-admin-group" "useradd/groupadd failed"
        exit 1
fi
enrich_write_config <<EOF
claims_ttl = 600;
max_ttl = 3600;
admin_group = "$ADMIN_GROUP";
rules = ( { name = "base"; match = { services = ["enrich-test"]; }; grant = { scopes = ["base:read"]; }; } );
EOF
if ! enrich_start_daemon; then
        fail "daemon-starts" "enrichd did not start"
        exit 1
fi

TABLE() { "$PY" "$HERE/access_table.py" table "$DISPATCH_C"; }
table_read() { TABLE >"$TMP/table" && [ "$(wc -l <"$TMP/table")" -ge 20 ]; }
check table-read table_read || show "$TMP/table"

# Rows about the owner (U1): a session (a live process stands in for the
# login), a grant, an access request, and the audit rows they leave.
sleep 600 &
HOLDER=$!
CLEANUP_PIDS="$CLEANUP_PIDS $HOLDER"
vc() { "$PY" "$HERE/varlink_call.py" "$SOCK" "$@"; }
vc io.enrich.Enrich "{\"user\":\"$U1\",\"service\":\"enrich-test\",\"pid\":$HOLDER}" >"$TMP/enrich.out"
vc io.enrich.Grant "{\"user\":\"$U1\",\"scopes\":[\"x:y\"],\"ttl\":600,\"reason\":\"access table\"}" >"$TMP/grant.out"
as_user "$U1" "$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.Request \
        '{"scopes":["x:z"],"ttl":600,"reason":"access table"}' >"$TMP/request.out"
owner_rows() { ! grep -q '"error"' "$TMP/enrich.out" "$TMP/grant.out" "$TMP/request.out"; }
check owner-has-rows owner_rows || { show "$TMP/enrich.out"; show "$TMP/grant.out"; show "$TMP/request.out"; }

# expect ROLE CLASS OUTCOME ROWS: empty when the answer is the promised one,
# else what was wrong.
expect() {
        local role=$1 class=$2 outcome=$3 rows=$4
        case $class in
        ACCESS_ANYONE)
                [ "$outcome" != denied ] || echo "denied to anyone" ;;
        ACCESS_ROOT)
                if [ "$role" = root ]; then [ "$outcome" != denied ] || echo "denied to root"
                else [ "$outcome" = denied ] || echo "not denied ($outcome)"; fi ;;
        ACCESS_ADMIN)
                case $role in
                root|admin) [ "$outcome" != denied ] || echo "denied to $role" ;;
                *) [ "$outcome" = denied ] || echo "not denied ($outcome)" ;;
                esac ;;
        ACCESS_SELF_OR_ADMIN)
                if [ "$role" = stranger ]; then
                        [ "$outcome" = denied ] || [ "$rows" = 0 ] || echo "stranger sees $rows of the owner's rows"
                else
                        [ "$outcome" = served ] && [ "$rows" != - ] && [ "$rows" -gt 0 ] ||
                                echo "$role does not see the owner's rows ($outcome, $rows rows)"
                fi ;;
        *)
                echo "unknown access class $class" ;;
        esac
}

# as_role ROLE: the calls of every method as that identity.
as_role() {
        local who
        case $1 in root) who="" ;; admin) who=$UA ;; owner) who=$U1 ;; stranger) who=$U2 ;; esac
        if [ -z "$who" ]; then
                "$PY" "$HERE/access_table.py" call "$SOCK" "$DISPATCH_C" "$U1"
        else
                as_user "$who" "$PY" "$HERE/access_table.py" call "$SOCK" "$DISPATCH_C" "$U1"
        fi
}

DENIALS=0
for role in root admin owner stranger; do
        as_role "$role" >"$TMP/$role.out" 2>&1
        : >"$TMP/$role.wrong"
        while read -r method class outcome rows; do
                why=$(expect "$role" "$class" "$outcome" "$rows")
                [ -n "$why" ] && echo "$method ($class): $why" >>"$TMP/$role.wrong"
                [ "$outcome" = denied ] && DENIALS=$((DENIALS + 1)) &&
                        echo "$method $role" >>"$TMP/denials"
        done <"$TMP/$role.out"
        all_promised() {
                [ "$(wc -l <"$TMP/$role.out")" = "$(wc -l <"$TMP/table")" ] && [ ! -s "$TMP/$role.wrong" ]
        }
        check "access-$role" all_promised || { show "$TMP/$role.wrong"; show "$TMP/$role.out"; }
done

# Every refusal is audited once, with the method and the caller's uid.
vc io.enrich.AuditList '{"action":"permission.denied","limit":1000}' >"$TMP/denied-rows.json"
refusals_audited() {
        "$PY" - "$TMP/denied-rows.json" "$TMP/denials" "$UA" "$U1" "$U2" <<'PYEOF'
import json, pwd, sys
reply = json.load(open(sys.argv[1]))
rows = reply["parameters"]["entries"]
uids = {"admin": pwd.getpwnam(sys.argv[3]).pw_uid, "owner": pwd.getpwnam(sys.argv[4]).pw_uid,
        "stranger": pwd.getpwnam(sys.argv[5]).pw_uid, "root": 0}
seen = [(r["details"].get("method"), r.get("actorUid")) for r in rows]
missing = []
for line in open(sys.argv[2]):
    method, role = line.split()
    if seen.count((method, uids[role])) != 1:
        missing.append("%s as %s: %d rows" % (method, role, seen.count((method, uids[role]))))
for m in missing:
    print("#   " + m)
sys.exit(1 if missing or len(rows) != sum(1 for _ in open(sys.argv[2])) else 0)
PYEOF
}
check refusals-audited refusals_audited

enrich_finish
