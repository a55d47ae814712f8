[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# disable.sh: disabled identities through the real module's account hook
# (pam_start_confdir, account + session in one transaction) and the real
# daemon: a disabled user is refused with PAM_PERM_DENIED and a message, its
# live keys and tokens are revoked, it gets no claims and no token login;
# enable lets it in again; an unreachable daemon means PAM_IGNORE, or a
# refusal with fail=closed; only admins may disable; amr=svc marks units.
. "$(dirname "$0")/lib.sh"

CHECKS="eu5-account-ok-before-disable eu5-disable-reports-revocations eu5-disabled-account-refused
eu5-disabled-user-told eu5-disabled-live-key-revoked eu5-disabled-token-revoked eu5-disabled-token-login-refused
eu5-disabled-gets-no-claims eu5-enable-lets-in eu5-account-daemon-down-ignored eu5-account-daemon-down-fail-closed
eu5-nonadmin-disable-refused eu5-nonadmin-enable-refused eu5-nonroot-checkaccount-refused
eu5-amr-svc-marks-units daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
DIS=eu5-dis-$$
enrich_add_user "$DIS" || { fail setup-users useradd; exit 1; }
enrich_write_config <<EOF
claims_ttl = 600;
max_ttl = 3600;
rules = (
  { name = "all";
    match = { services = ["enrich-test", "eu5-acct", "eu5-unit"]; };
    grant = { scopes = ["s:read"]; };
  }
);
EOF
cat >"$PAMDIR/eu5-acct" <<EOF
auth     required $BUILD/pam_enrich.so socket=$SOCK prompt
account  required $BUILD/pam_enrich.so socket=$SOCK
session  required pam_permit.so
session  required $BUILD/pam_enrich.so socket=$SOCK
EOF
# As etc/pam.d/enrich-service has it: pam_unix's part stands as pam_permit.
cat >"$PAMDIR/eu5-unit" <<EOF
account  required pam_permit.so
account  required $BUILD/pam_enrich.so socket=$SOCK
session  required pam_permit.so
session  required $BUILD/pam_enrich.so socket=$SOCK amr=svc
EOF
cat >"$PAMDIR/eu5-down" <<EOF
account  [success=ok ignore=ignore default=bad] $BUILD/pam_enrich.so socket=$TMP/nothing-here
account  required pam_permit.so
session  required pam_permit.so
EOF
cat >"$PAMDIR/eu5-down-closed" <<EOF
account  required $BUILD/pam_enrich.so socket=$TMP/nothing-here fail=closed
account  required pam_permit.so
session  required pam_permit.so
EOF
if ! enrich_start_daemon; then
        fail daemon-starts "enrichd did not start"
        exit 1
fi

# account NAME SERVICE USER: pam_acct_mgmt then a session whose claims
# token (if any) lands in $TMP/NAME.jwt; the exit status is pam_session's.
account() {
        "$PAM_SESSION" --confdir "$PAMDIR" --service "$2" --user "$3" --acct-mgmt \
                -- sh -c 'k=$(keyctl search @s user enrich:claims 2>/dev/null) && keyctl pipe "$k"; true' \
                >"$TMP/$1.jwt" 2>"$TMP/$1.err"
}

check eu5-account-ok-before-disable account before eu5-acct "$DIS" || show "$TMP/before.err"
TOKEN=$(ctl token issue "$DIS" --ttl 1h --scope s:read 2>/dev/null)
TID=${TOKEN:4:16}
session_open live "$DIS"
LIVE=$(session_serial live)

ctl --json disable "$DIS" --reason "eu5 offboarding" >"$TMP/disable.json" 2>&1
reported() { "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["tokensRevoked"]==1 and r["sessionsRevoked"]>=1 else 1)' "$TMP/disable.json"; }
check eu5-disable-reports-revocations reported || show "$TMP/disable.json"
account refused eu5-acct "$DIS"
RC=$?
check eu5-disabled-account-refused eval '[ $RC = 6 ] && grep -q "pam_acct_mgmt: Permission denied" "$TMP/refused.err"' ||
        show "$TMP/refused.err"
check eu5-disabled-user-told grep -q "pam: Account $DIS is disabled" "$TMP/refused.err"
check eu5-disabled-live-key-revoked poll 20 key_dead "$LIVE"
check eu5-disabled-token-revoked eval 'ctl --json token list --user "$DIS" | "$PY" -c "import json,sys; t=json.load(sys.stdin)[\"tokens\"][0]; sys.exit(0 if t[\"state\"]==\"revoked\" else 1)"'
EU5_SECRET=$TOKEN "$PAM_SESSION" --confdir "$PAMDIR" --service eu5-acct --user "$DIS" --authenticate \
        --password-from-env EU5_SECRET --no-session 2>"$TMP/tok.err"
check eu5-disabled-token-login-refused grep -q "pam_authenticate: Authentication failure" "$TMP/tok.err"
# The session hook alone (no account stack): fail=open opens it, without claims.
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$DIS" \
        -- sh -c 'keyctl search @s user enrich:claims' >"$TMP/noclaims.out" 2>"$TMP/noclaims.err"
check eu5-disabled-gets-no-claims eval '! [ -s "$TMP/noclaims.out" ] &&
        grep -q "Refusing enrichment of disabled user $DIS" "$TMP/enrichd.log"'
session_close live

ctl enable "$DIS" >"$TMP/enable.out" 2>&1
check eu5-enable-lets-in eval 'account after eu5-acct "$DIS" && jwt_claim after "c[\"sub\"] == \"$DIS\""' ||
        { show "$TMP/enable.out"; show "$TMP/after.err"; }

check eu5-account-daemon-down-ignored account down eu5-down "$DIS" || show "$TMP/down.err"
account down-closed eu5-down-closed "$DIS"
RC=$?
check eu5-account-daemon-down-fail-closed eval '[ $RC = 6 ] && grep -q "pam_acct_mgmt: Authentication failure" "$TMP/down-closed.err"' ||
        show "$TMP/down-closed.err"

ctl_as "$U1" disable "$DIS" --reason x >"$TMP/na-dis" 2>&1
RC=$?
check eu5-nonadmin-disable-refused eval '[ $RC = 1 ] && grep -qi "permission denied" "$TMP/na-dis"'
check eu5-nonadmin-enable-refused eval '! ctl_as "$U1" enable "$DIS" >"$TMP/na-en" 2>&1 && grep -qi "permission denied" "$TMP/na-en"'
check eu5-nonroot-checkaccount-refused eval 'as_user "$U1" "$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.CheckAccount \
        "{\"user\":\"$DIS\"}" | grep -q PermissionDenied'

account unit eu5-unit "$DIS"
check eu5-amr-svc-marks-units jwt_claim unit 'c["amr"] == ["svc"]' || show "$TMP/unit.err"
enrich_finish
