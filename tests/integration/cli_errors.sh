[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# cli_errors.sh: issue 17 as an administrator meets it: what is typed is
# checked where it is typed (groups, amr values, audit actions, with "did
# you mean"); every error names its cause and the next step, and under
# --json is one {error, message, hint} object with the same exit code;
# per-command help; verbs that find their work done say "already"; a
# clamped ttl says so; durations as systemd writes them.
. "$(dirname "$0")/lib.sh"

CHECKS="grant-unknown-group-refused grant-unknown-group-lists-known grant-unknown-group-suggests
grant-force-accepts grant-known-group-accepted grant-json-error check-config-amr-refused
check-config-amr-suggests explain-amr-refused explain-amr-daemon-refuses audit-action-refused
audit-action-daemon-refuses permission-names-group permission-says-once unreachable-hint
unreachable-json userdb-socket-named whoami-names-pam-line json-usage-error json-unknown-command
json-exit-codes-unchanged command-help help-command usage-slip-short unknown-command-suggests
unknown-option-suggests unknown-subcommand-suggests version-from-changelog revoke-again-already revoke-again-json-unchanged
token-revoke-again-already disable-again-already enable-again-already grants-all-revoked-ago
ttl-clamped-exit-0 ttl-clamped-json ttl-clamped-stderr duration-10-mins duration-1h30
daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
ADMINS=eu17-admins-$$
enrich_add_group "$ADMINS" || { fail setup-group "groupadd failed"; enrich_finish; }
enrich_write_config <<CONF
claims_ttl = 600;
max_ttl = 28800;
admin_group = "$ADMINS";
groups = ( { name = "jit-deploy"; gid = 61917; } );
rules = (
  { name = "ops"; match = { services = ["enrich-test"]; };
    grant = { groups = ["ops-readonly"]; scopes = ["s:read"]; }; }
);
CONF
enrich_start_daemon || { fail cli-daemon "enrichd did not start"; enrich_finish; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

# json_field FILE EXPR: EXPR of the JSON object j in FILE, printed.
json_field() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
# json_error FILE: FILE is one JSON object with string error and message,
# and a hint key.
json_error() {
        "$PY" -c 'import json,sys
j=json.load(open(sys.argv[1]))
assert isinstance(j, dict) and isinstance(j.get("error"), str) and isinstance(j.get("message"), str)
assert "hint" in j' "$1" 2>/dev/null
}

# --- groups: refused unless known, with the known ones and a close match
ctl grant "$U1" --group nosuchgroup --ttl 10m --reason "eu17" >"$TMP/g1.out" 2>"$TMP/g1.err"
RC=$?
check grant-unknown-group-refused eval '[ $RC = 1 ] && grep -q "unknown group \"nosuchgroup\"" "$TMP/g1.err"' ||
        show "$TMP/g1.err"
check grant-unknown-group-lists-known eval 'grep "^hint:" "$TMP/g1.err" | grep -q "jit-deploy, ops-readonly" &&
        grep -q -- "--force" "$TMP/g1.err"' || show "$TMP/g1.err"
ctl grant "$U1" --group jit-deplyo --ttl 10m --reason "eu17" >/dev/null 2>"$TMP/g2.err"
check grant-unknown-group-suggests grep -q 'did you mean "jit-deploy"' "$TMP/g2.err" || show "$TMP/g2.err"
check grant-force-accepts eval 'ctl grant "$U1" --group nosuchgroup --force --ttl 10m --reason "eu17 forced" >/dev/null 2>&1'
check grant-known-group-accepted eval 'ctl grant "$U1" --group ops-readonly --ttl 10m --reason eu17 >/dev/null 2>&1'
ctl --json grant "$U1" --group nosuchgroup --ttl 10m --reason "eu17" >"$TMP/g3.json" 2>"$TMP/g3.err"
RC=$?
check grant-json-error eval '[ $RC = 1 ] && json_error "$TMP/g3.json" &&
        [ "$(json_field "$TMP/g3.json" "j[\"error\"]")" = io.enrich.UnknownGroup ] && [ ! -s "$TMP/g3.err" ]' ||
        { show "$TMP/g3.json"; show "$TMP/g3.err"; }

# --- amr: the config check and explain refuse what no login can show
enrich_write_config "$TMP/bad-amr.conf" <<CONF
rules = ( { name = "typo-rule"; match = { amr = ["password"]; }; grant = { scopes = ["x"]; }; },
          { name = "near-rule"; match = { amr = ["otb"]; }; grant = { scopes = ["x"]; }; } );
CONF
"$ENRICHD" --check-config --config "$TMP/bad-amr.conf" >"$TMP/amr.out" 2>&1
RC=$?
check check-config-amr-refused eval '[ $RC != 0 ] && grep "typo-rule" "$TMP/amr.out" | grep "password" |
        grep -q "pwd, pop, tok, svc, mfa, otp, hwk, swk"' || show "$TMP/amr.out"
check check-config-amr-suggests grep -q 'did you mean "otp"' "$TMP/amr.out" || show "$TMP/amr.out"
ctl explain "$U1" --service enrich-test --amr password >"$TMP/ex.out" 2>"$TMP/ex.err"
RC=$?
check explain-amr-refused eval '[ $RC = 2 ] && grep -q "unknown --amr value \"password\"" "$TMP/ex.err" &&
        grep -q "pwd, pop, tok, svc, mfa, otp, hwk, swk" "$TMP/ex.err"' || show "$TMP/ex.err"
"$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.Explain \
        "{\"user\":\"$U1\",\"service\":\"enrich-test\",\"amr\":[\"password\"]}" >"$TMP/ex.json" 2>&1
check explain-amr-daemon-refuses eval 'grep -q InvalidParameter "$TMP/ex.json" && grep -q "unknown amr" "$TMP/ex.json"' ||
        show "$TMP/ex.json"

# --- audit --action: an action no row can have
ctl audit --action grant.create >"$TMP/au.out" 2>"$TMP/au.err"
RC=$?
check audit-action-refused eval '[ $RC = 2 ] && [ ! -s "$TMP/au.out" ] &&
        grep -q "did you mean \"grant.created\"" "$TMP/au.err"' || show "$TMP/au.err"
"$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.AuditList '{"action":"grant.create"}' >"$TMP/au.json" 2>&1
check audit-action-daemon-refuses eval 'grep -q InvalidParameter "$TMP/au.json" &&
        grep -q "grant.created" "$TMP/au.json"' || show "$TMP/au.json"

# --- a permission error names the group and how to join it, once
ctl_as "$U1" grant "$U2" --scope x --ttl 10m --reason eu17 >"$TMP/perm.out" 2>"$TMP/perm.err"
check permission-names-group eval 'grep -q "group $ADMINS" "$TMP/perm.err" &&
        grep -q "usermod -aG $ADMINS $U1," "$TMP/perm.err" && grep -q "log in again" "$TMP/perm.err"' ||
        show "$TMP/perm.err"
check permission-says-once eval '[ "$(grep -c "only root and members" "$TMP/perm.err")" = 1 ] &&
        ! grep -q admin_group.*admin.group "$TMP/perm.err"' || show "$TMP/perm.err"

# --- sockets: where enrichd is not, and the userdb socket
"$ENRICHCTL" --socket "$TMP/none" status >"$TMP/un.out" 2>"$TMP/un.err"
RC_PLAIN=$?
check unreachable-hint eval '[ $RC_PLAIN = 2 ] && grep -q "cannot reach enrichd at $TMP/none" "$TMP/un.err" &&
        grep -q "systemctl status enrichd.socket" "$TMP/un.err" && grep -q -- "--socket" "$TMP/un.err" &&
        grep -q ENRICH_SOCKET "$TMP/un.err"' || show "$TMP/un.err"
"$ENRICHCTL" --json --socket "$TMP/none" status >"$TMP/un.json" 2>"$TMP/un-json.err"
RC_JSON=$?
check unreachable-json eval '[ $RC_JSON = 2 ] && json_error "$TMP/un.json" && [ ! -s "$TMP/un-json.err" ] &&
        [ "$(json_field "$TMP/un.json" "j[\"error\"]")" = enrichctl.Unreachable ]' || show "$TMP/un.json"
"$ENRICHCTL" --socket "$TMP/io.enrich.Groups" status >/dev/null 2>"$TMP/ud.err"
check userdb-socket-named eval 'grep -q "userdb socket" "$TMP/ud.err" && grep -q "/run/enrich/io.enrich" "$TMP/ud.err" &&
        ! grep -q "older" "$TMP/ud.err"' || show "$TMP/ud.err"

# --- whoami outside a session names the PAM line
keyctl session - "$ENRICHCTL" --jwks "$JWKS" whoami >/dev/null 2>"$TMP/who.err"
check whoami-names-pam-line eval 'grep -q "session optional pam_enrich.so" "$TMP/who.err" &&
        grep -q pam_keyinit "$TMP/who.err" && grep -q "/etc/pam.d/" "$TMP/who.err"' || show "$TMP/who.err"

# --- --json: every error is JSON on stdout, exit codes unchanged
"$ENRICHCTL" --json grant "$U1" --ttl 1h >"$TMP/ju.json" 2>"$TMP/ju.err"
RC_JSON=$?
check json-usage-error eval 'json_error "$TMP/ju.json" && [ ! -s "$TMP/ju.err" ]' || show "$TMP/ju.json"
"$ENRICHCTL" --json stauts >"$TMP/jc.json" 2>/dev/null
check json-unknown-command eval 'json_error "$TMP/jc.json" && grep -q "\"status\"\|'"'"'status'"'"'" "$TMP/jc.json"' ||
        show "$TMP/jc.json"
"$ENRICHCTL" grant "$U1" --ttl 1h >/dev/null 2>&1
RC_PLAIN=$?
check json-exit-codes-unchanged eval '[ $RC_PLAIN = 2 ] && [ $RC_JSON = 2 ]'

# --- help
"$ENRICHCTL" grant --help >"$TMP/h1.out" 2>&1
RC=$?
check command-help eval '[ $RC = 0 ] && grep -q "grant USER" "$TMP/h1.out" && ! grep -q "token issue" "$TMP/h1.out"' ||
        show "$TMP/h1.out"
"$ENRICHCTL" help grant >"$TMP/h2.out" 2>&1
check help-command cmp -s "$TMP/h1.out" "$TMP/h2.out"
"$ENRICHCTL" grant "$U1" >/dev/null 2>"$TMP/slip.err"
check usage-slip-short eval '[ "$(wc -l <"$TMP/slip.err")" -le 2 ] && grep -q "enrichctl grant --help" "$TMP/slip.err"' ||
        show "$TMP/slip.err"
"$ENRICHCTL" stauts >/dev/null 2>"$TMP/uc.err"
check unknown-command-suggests grep -q "did you mean 'status'" "$TMP/uc.err" || show "$TMP/uc.err"
"$ENRICHCTL" grant "$U1" --grup x >/dev/null 2>"$TMP/uo.err"
check unknown-option-suggests grep -q "did you mean '--group'" "$TMP/uo.err" || show "$TMP/uo.err"
"$ENRICHCTL" token isue "$U1" >/dev/null 2>"$TMP/us.err"
check unknown-subcommand-suggests grep -q "did you mean 'issue'" "$TMP/us.err" || show "$TMP/us.err"
WANT=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' "$ROOT/debian/changelog")
check version-from-changelog eval '[ "$("$ENRICHCTL" --version)" = "enrichctl $WANT" ]'

# --- verbs that find their work done say "already", exit 0
GID=$(ctl grant "$U1" --scope eu17:again --ttl 10m --reason eu17 2>/dev/null)
ctl revoke "$GID" >/dev/null 2>&1
ctl revoke "$GID" >"$TMP/rv2.out" 2>&1
RC=$?
check revoke-again-already eval '[ $RC = 0 ] && grep -q "already revoked" "$TMP/rv2.out"' || show "$TMP/rv2.out"
ctl --json revoke "$GID" >"$TMP/rv3.json" 2>&1
check revoke-again-json-unchanged eval '[ "$(json_field "$TMP/rv3.json" "j[\"changed\"]")" = False ]' || show "$TMP/rv3.json"
TID=$(ctl --json token issue "$U2" --ttl 1h 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
ctl token revoke "$TID" >/dev/null 2>&1
ctl token revoke "$TID" >"$TMP/tr2.out" 2>&1
RC=$?
check token-revoke-again-already eval '[ $RC = 0 ] && grep -q "already revoked" "$TMP/tr2.out"' || show "$TMP/tr2.out"
ctl disable "$U2" --reason eu17 >/dev/null 2>&1
ctl disable "$U2" --reason eu17 >"$TMP/d2.out" 2>&1
RC=$?
check disable-again-already eval '[ $RC = 0 ] && grep -q "already disabled" "$TMP/d2.out"' || show "$TMP/d2.out"
ctl enable "$U2" >/dev/null 2>&1
ctl enable "$U2" >"$TMP/e2.out" 2>&1
RC=$?
check enable-again-already eval '[ $RC = 0 ] && grep -q "already enabled" "$TMP/e2.out"' || show "$TMP/e2.out"
ctl grants --all >"$TMP/all.out" 2>&1
check grants-all-revoked-ago eval 'grep "^$GID " "$TMP/all.out" | grep -q "revoked [0-9]*s ago\|revoked now" &&
        ! grep "^$GID " "$TMP/all.out" | grep -q "(in "' || show "$TMP/all.out"

# --- ttl clamped to max_ttl: exit 0, said on stderr and in --json
ctl --json grant "$U1" --scope eu17:long --ttl 30d --reason eu17 >"$TMP/cl.json" 2>"$TMP/cl.err"
RC=$?
check ttl-clamped-exit-0 test "$RC" = 0
check ttl-clamped-json eval '[ "$(json_field "$TMP/cl.json" "j[\"clampedFrom\"]")" = 2592000 ] &&
        [ "$(json_field "$TMP/cl.json" "j[\"expires\"] - j[\"created\"]")" = 28800 ]' || show "$TMP/cl.json"
ctl grant "$U1" --scope eu17:long2 --ttl 30d --reason eu17 >/dev/null 2>"$TMP/cl2.err"
check ttl-clamped-stderr grep -q "max_ttl" "$TMP/cl2.err" || show "$TMP/cl2.err"

# --- durations as systemd writes them
ctl --json grant "$U1" --scope eu17:mins --ttl "10 mins" --reason eu17 >"$TMP/m.json" 2>"$TMP/m.err"
check duration-10-mins eval '[ "$(json_field "$TMP/m.json" "j[\"expires\"] - j[\"created\"]")" = 600 ]' ||
        { show "$TMP/m.json"; show "$TMP/m.err"; }
ctl --json grant "$U1" --scope eu17:clock --ttl 1h30 --reason eu17 >"$TMP/h.json" 2>"$TMP/h.err"
check duration-1h30 eval '[ "$(json_field "$TMP/h.json" "j[\"expires\"] - j[\"created\"]")" = 5400 ]' ||
        { show "$TMP/h.json"; show "$TMP/h.err"; }

enrich_finish
