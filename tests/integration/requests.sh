[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# requests.sh: access requests (issue 17) against a real enrichd, real
# users and a real PAM login: a user asks, admins other than the requester
# approve or deny, an approval is a grant that reaches the requester's
# live session at once; two-approver policy; expiry; who sees and decides
# what; the per-user bound on pending requests, and that a flood past it
# costs no rows; every step audited.
. "$(dirname "$0")/lib.sh"

CHECKS="request-created request-json-record request-unknown-group-refused request-terminal-controls-refused owner-sees-own stranger-sees-none stranger-cannot-name-owner
admin-sees-all user-cannot-approve user-cannot-deny self-approval-refused self-approval-stays-pending
not-in-userdb-before-approval approve-makes-grant grant-names-request-and-approver grant-reaches-live-session grant-reaches-userdb request-shows-approved
approve-twice-refused deny-records-reason denied-cannot-be-approved
two-approvers-first-records two-approvers-same-admin-refused two-approvers-second-grants
pending-bound-refuses pending-bound-flood-costs-no-rows requests-page request-expires expired-cannot-be-approved
disabled-user-cannot-request steps-audited daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
ADMIN_GROUP=enrich-tadm-$$
UA=enrich-ta-$$
UB=enrich-tb-$$
if ! enrich_add_user "$UA" || ! enrich_add_user "$UB" || ! enrich_add_group "$ADMIN_GROUP" "$UA,$UB"; then
        fail "setup-admin-group" "useradd/groupadd failed"
        exit 1
fi
write_config() {
        enrich_write_config <<EOF
claims_ttl = 600;
max_ttl = 3600;
admin_group = "$ADMIN_GROUP";
groups = ( { name = "jit-deploy"; gid = 61917; }, { name = "jit-prod"; gid = 61918; } );
rules = ( { name = "base"; match = { services = ["enrich-test"]; }; grant = { scopes = ["base:read"]; }; } );
requests = { timeout = $1; max_pending = 3; two_approver_groups = ["jit-prod"]; };
EOF
}
write_config 86400
if ! enrich_start_daemon; then
        fail "daemon-starts" "enrichd did not start"
        exit 1
fi
# rjson FILE EXPR: true when EXPR holds for j = the JSON in FILE.
rjson() {
        [ "$("$PY" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(bool(eval("(" + sys.argv[2] + ")")))' \
                "$1" "$2" 2>/dev/null)" = True ]
}
# state_of ID: the request's state as an admin lists it.
state_of() {
        ctl --json requests | "$PY" -c 'import json, sys
for r in json.load(sys.stdin)["requests"]:
    if r["id"] == sys.argv[1]: print(r["state"])' "$1"
}

# userdb_member: U1 is a member of jit-deploy on the userdb socket
userdb_member() {
        "$PY" - "$TMP/io.enrich.Groups" "$U1" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(3)
s.connect(sys.argv[1])
s.sendall(json.dumps({"method": "io.systemd.UserDatabase.GetMemberships", "more": True,
                      "parameters": {"userName": sys.argv[2], "service": "io.enrich.Groups"}}).encode() + b"\0")
buf = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
    replies = [json.loads(p) for p in buf.split(b"\0") if p]
    if replies and not replies[-1].get("continues"):
        break
groups = [r.get("parameters", {}).get("groupName") for r in replies]
sys.exit(0 if "jit-deploy" in groups else 1)
EOF
}

# --- a user asks, for itself
session_open s1 "$U1"
S1=$(session_serial s1)
ctl_as "$U1" request --group jit-deploy --scope deploy:prod --ttl 10m --reason "INC-7 deploy" \
        >"$TMP/req1.out" 2>"$TMP/req1.err"
RC=$?
R1=$(head -n1 "$TMP/req1.out")
created() { [ "$RC" = 0 ] && [ -n "$R1" ] && grep -q "pending" "$TMP/req1.err"; }
check request-created created || { show "$TMP/req1.err"; show "$TMP/enrichd.log"; }
ctl_as "$U1" --json requests >"$TMP/own.json" 2>&1
check request-json-record rjson "$TMP/own.json" \
        "[r for r in j['requests'] if r['id'] == '$R1' and r['user'] == '$U1' and r['groups'] == ['jit-deploy']
          and r['scopes'] == ['deploy:prod'] and r['ttl'] == 600 and r['state'] == 'pending'
          and r['approvalsNeeded'] == 1 and r['approvedBy'] == []]" || show "$TMP/own.json"
ctl_as "$U1" request --group wheel --ttl 10m --reason "typo or worse" >"$TMP/wheel.out" 2>&1
RC=$?
unknown_group() { [ "$RC" = 1 ] && grep -q "a group enrichd knows" "$TMP/wheel.out"; }
check request-unknown-group-refused unknown_group || show "$TMP/wheel.out"
# The reason is printed raw by an admin's "enrichctl requests" and "audit":
# a C1 CSI (U+009B, xterm's escape) or a bidi override (U+202E) from the
# requester must not get there. Sent as raw Varlink, not through enrichctl.
for ch in '\u009b' '\u0085' '\u202e' '\u2067' '\u200f'; do
        as_user "$U1" "$PY" "$(dirname "$0")/varlink_call.py" "$SOCK" io.enrich.Request \
                '{"groups": ["jit-deploy"], "ttl": 600, "reason": "deploy '"$ch"'2J now"}'
done >"$TMP/controls.out" 2>&1
controls_refused() {
        [ "$(grep -c '"reason": "contains control characters"' "$TMP/controls.out")" = 5 ] &&
                ! grep -q '"request"' "$TMP/controls.out"
}
check request-terminal-controls-refused controls_refused || show "$TMP/controls.out"
check owner-sees-own rjson "$TMP/own.json" "len(j['requests']) == 1" || show "$TMP/own.json"
ctl_as "$U2" --json requests >"$TMP/stranger.json" 2>&1
check stranger-sees-none rjson "$TMP/stranger.json" "j['requests'] == []" || show "$TMP/stranger.json"
ctl_as "$U2" requests --user "$U1" >"$TMP/stranger-named.out" 2>&1
RC=$?
named_refused() { [ "$RC" = 1 ] && grep -q "permission denied" "$TMP/stranger-named.out"; }
check stranger-cannot-name-owner named_refused || show "$TMP/stranger-named.out"

# --- an admin's own request: nobody decides their own
ctl_as "$UA" request --scope admin:self --ttl 5m --reason "mine" >"$TMP/reqa.out" 2>&1
RA=$(head -n1 "$TMP/reqa.out")
ctl_as "$UB" --json requests >"$TMP/admin-all.json" 2>&1
check admin-sees-all rjson "$TMP/admin-all.json" \
        "{r['id'] for r in j['requests']} >= {'$R1', '$RA'}" || show "$TMP/admin-all.json"
ctl_as "$U2" approve "$R1" >"$TMP/u2-approve.out" 2>&1
RC=$?
check user-cannot-approve test "$RC" = 1 -a "$(state_of "$R1")" = pending || show "$TMP/u2-approve.out"
ctl_as "$U1" deny "$R1" --reason nope >"$TMP/u1-deny.out" 2>&1
RC=$?
check user-cannot-deny test "$RC" = 1 -a "$(state_of "$R1")" = pending || show "$TMP/u1-deny.out"
ctl_as "$UA" approve "$RA" >"$TMP/self.out" 2>&1
RC=$?
self_refused() { [ "$RC" = 1 ] && grep -q "your own request" "$TMP/self.out"; }
check self-approval-refused self_refused || show "$TMP/self.out"
check self-approval-stays-pending test "$(state_of "$RA")" = pending

# --- an admin approves: a grant, on the live session at once
check_not not-in-userdb-before-approval userdb_member
ctl_as "$UA" approve "$R1" >"$TMP/approve.out" 2>"$TMP/approve.err"
RC=$?
check approve-makes-grant test "$RC" = 0 || { show "$TMP/approve.err"; show "$TMP/enrichd.log"; }
ctl --json grants --user "$U1" >"$TMP/grants.json" 2>&1
check grant-names-request-and-approver rjson "$TMP/grants.json" \
        "[g for g in j['grants'] if g.get('request') == '$R1' and g['grantedBy'] == '$UA'
          and g['groups'] == ['jit-deploy'] and g['scopes'] == ['deploy:prod'] and g['reason'] == 'INC-7 deploy']" ||
        show "$TMP/grants.json"
reaches() { has_scope "$S1" deploy:prod && has_group "$S1" jit-deploy; }
check grant-reaches-live-session poll 50 reaches || echo "# key payload: $(key_claims "$S1")"
check grant-reaches-userdb poll 50 userdb_member
check request-shows-approved test "$(state_of "$R1")" = approved
ctl_as "$UB" approve "$R1" >"$TMP/again.out" 2>&1
RC=$?
check approve-twice-refused test "$RC" = 1 -a "$(ctl --json grants --user "$U1" | grep -c '"request"')" = 1 ||
        show "$TMP/again.out"

# --- deny
ctl_as "$U1" request --scope db:read --ttl 1h --reason "curious" >"$TMP/req2.out" 2>&1
R2=$(head -n1 "$TMP/req2.out")
ctl_as "$UB" --json deny "$R2" --reason "not without a ticket" >"$TMP/deny.json" 2>&1
check deny-records-reason rjson "$TMP/deny.json" \
        "j['request']['state'] == 'denied' and j['request']['decidedBy'] == '$UB'
         and j['request']['decisionReason'] == 'not without a ticket'" || show "$TMP/deny.json"
ctl_as "$UA" approve "$R2" >"$TMP/deny-approve.out" 2>&1
RC=$?
check denied-cannot-be-approved test "$RC" = 1 -a "$(state_of "$R2")" = denied || show "$TMP/deny-approve.out"

# --- two approvers for jit-prod
ctl_as "$U1" request --group jit-prod --ttl 10m --reason "INC-8 prod" >"$TMP/req3.out" 2>&1
R3=$(head -n1 "$TMP/req3.out")
ctl_as "$UA" --json approve "$R3" >"$TMP/first.json" 2>&1
first_records() {
        rjson "$TMP/first.json" "j['request']['state'] == 'pending' and j['request']['approvedBy'] == ['$UA']
                                 and j['request']['approvalsNeeded'] == 2 and 'grant' not in j" &&
                ! ctl --json grants --user "$U1" | grep -q "\"$R3\""
}
check two-approvers-first-records first_records || show "$TMP/first.json"
ctl_as "$UA" approve "$R3" >"$TMP/same.out" 2>&1
RC=$?
same_refused() { [ "$RC" = 1 ] && grep -q "second, different admin" "$TMP/same.out" && [ "$(state_of "$R3")" = pending ]; }
check two-approvers-same-admin-refused same_refused || show "$TMP/same.out"
ctl_as "$UB" --json approve "$R3" >"$TMP/second.json" 2>&1
second_grants() {
        rjson "$TMP/second.json" "j['request']['state'] == 'approved' and j['request']['approvedBy'] == ['$UA', '$UB']
                                  and j['grant']['grantedBy'] == '$UB' and j['grant']['request'] == '$R3'" &&
                poll 50 has_group "$S1" jit-prod
}
check two-approvers-second-grants second_grants || { show "$TMP/second.json"; echo "# key: $(key_claims "$S1")"; }

# --- the per-user bound: 3 pending; past it refused, and a flood costs no rows
for i in 1 2 3; do ctl_as "$U2" request --scope "s:$i" --ttl 1m --reason "r$i" >/dev/null 2>&1; done
ctl_as "$U2" request --scope s:4 --ttl 1m --reason r4 >"$TMP/bound.out" 2>&1
RC=$?
bound_refused() { [ "$RC" = 1 ] && grep -q "max_pending" "$TMP/bound.out"; }
check pending-bound-refuses bound_refused || show "$TMP/bound.out"
# 40 calls on one connection, timed.
as_user "$U2" "$PY" - "$SOCK" >"$TMP/flood.out" 2>&1 <<'EOF'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
call = json.dumps({"method": "io.enrich.Request",
                   "parameters": {"scopes": ["flood:x"], "ttl": 60, "reason": "flood"}}).encode() + b"\0"
start, refused = time.monotonic(), 0
for _ in range(40):
    s.sendall(call)
    buf = b""
    while not buf.endswith(b"\0"):
        buf += s.recv(65536)
    refused += json.loads(buf[:-1]).get("error") == "io.enrich.PermissionDenied"
print("# flood: %d of 40 refused in %.1f ms" % (refused, (time.monotonic() - start) * 1000))
EOF
cat "$TMP/flood.out"
ctl --json requests --user "$U2" >"$TMP/u2.json" 2>&1
"$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.AuditList \
        "{\"user\":\"$U2\",\"action\":\"permission.denied\",\"limit\":1000}" >"$TMP/u2-denied.json" 2>&1
no_rows() {
        rjson "$TMP/u2.json" "len(j['requests']) == 3" &&
                rjson "$TMP/u2-denied.json" \
                        "len([e for e in j['parameters']['entries'] if e['details'].get('method') == 'io.enrich.Request']) <= 2"
}
check pending-bound-flood-costs-no-rows no_rows || { show "$TMP/u2.json"; show "$TMP/u2-denied.json"; }

# --- ListRequests pages like the other listings: limit 2, following next,
# walks every request once, newest first
"$PY" - "$HERE/varlink_call.py" "$SOCK" >"$TMP/pages.out" 2>&1 <<'EOF'
import json, subprocess, sys
call, sock = sys.argv[1:3]
def page(params):
    out = subprocess.run([sys.executable, call, sock, "io.enrich.ListRequests", json.dumps(params)],
                         capture_output=True, text=True).stdout
    return json.loads(out)["parameters"]
whole = page({"limit": 1000})["requests"]
walked, params, pages = [], {"limit": 2}, 0
while True:
    p = page(params)
    pages += 1
    assert len(p["requests"]) <= 2, p
    walked += p["requests"]
    if not p.get("next") or pages > 50:
        break
    params = {"limit": 2, "after": p["next"]}
ids = [r["id"] for r in walked]
print(len(whole), "requests,", pages, "pages")
ok = (ids == [r["id"] for r in whole] and len(set(ids)) == len(ids) and pages == (len(whole) + 1) // 2
      and len(whole) >= 7 and [r["created"] for r in walked] == sorted((r["created"] for r in walked), reverse=True))
sys.exit(0 if ok else 1)
EOF
check requests-page test $? = 0 || show "$TMP/pages.out"

# --- expiry: a 2-second decision window
write_config 2
ctl reload >"$TMP/reload.out" 2>&1 || show "$TMP/reload.out"
ctl_as "$UA" request --scope late:x --ttl 5m --reason "too late" >"$TMP/req4.out" 2>&1
R4=$(head -n1 "$TMP/req4.out")
sleep 3
expired() {
        [ "$(state_of "$R4")" = expired ] &&
                "$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.AuditList '{"action":"request.expired","limit":100}' |
                grep -q "$R4"
}
check request-expires poll 100 expired || { ctl requests; show "$TMP/req4.out"; }
ctl_as "$UB" approve "$R4" >"$TMP/late.out" 2>&1
RC=$?
check expired-cannot-be-approved test "$RC" = 1 -a "$(state_of "$R4")" = expired || show "$TMP/late.out"

# --- an offboarded user asks for nothing
ctl disable "$U2" --reason "left the company" >/dev/null 2>&1
ctl_as "$U2" request --scope back:door --ttl 1m --reason "one last thing" >"$TMP/disabled.out" 2>&1
RC=$?
disabled_refused() { [ "$RC" = 1 ] && grep -q "AccountDisabled" "$TMP/disabled.out"; }
check disabled-user-cannot-request disabled_refused || show "$TMP/disabled.out"

# --- every step in the audit trail
"$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.AuditList '{"limit":1000}' >"$TMP/audit.json" 2>&1
audited() {
        rjson "$TMP/audit.json" "(lambda rows: all([
            any(r['action'] == 'request.created' and r['details'].get('requestId') == '$R1' for r in rows),
            any(r['action'] == 'request.approved' and r['details'].get('requestId') == '$R1'
                and r['details'].get('grantId') for r in rows),
            any(r['action'] == 'grant.created' and r['details'].get('requestId') == '$R1' for r in rows),
            any(r['action'] == 'request.denied' and r['details'].get('requestId') == '$R2' for r in rows),
            len([r for r in rows if r['action'] == 'request.approved' and r['details'].get('requestId') == '$R3']) == 2,
            any(r['action'] == 'request.expired' and r['details'].get('requestId') == '$R4' for r in rows),
        ]))(j['parameters']['entries'])"
}
check steps-audited audited || grep -o '"action": *"request[^"]*"' "$TMP/audit.json" | sort | uniq -c | sed 's/^/# /'

enrich_finish
