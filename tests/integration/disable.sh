[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# disable.sh: disabled identities through the real module's account hook
# (pam_start_confdir, account + session in one transaction) and the real
# daemon: a disabled user is refused with PAM_PERM_DENIED and a message, its
# live keys and tokens are revoked, it gets no claims and no token login;
# enable lets it in again; an unreachable daemon means PAM_IGNORE, or a
# refusal with fail=closed; only admins may disable; amr=svc marks units.
# Offboarding holds without the daemon: the list of disabled identities it
# keeps beside its socket (replaced atomically, 0600) refuses a disabled
# user while the daemon is hung (SIGSTOP) or stopped, within the timeout;
# an enabled user still gets what fail= says; a list with the wrong owner
# or mode, or garbage, is ignored.
# An identity is its uid as well as its name: an alias with a disabled
# user's uid (useradd -o) is refused by the account hook, with the daemon
# up and down (the list holds uid:N lines), gets no claims, no token login
# and loses its live key; disabling the alias refuses the user; enable
# lets both in; rows from before uids were kept get them at start-up; an
# unknown user is still disabled by name.
. "$(dirname "$0")/lib.sh"

CHECKS="eu5-account-ok-before-disable eu5-disable-reports-revocations eu5-disabled-account-refused
eu5-disabled-user-told eu5-disabled-live-key-revoked eu5-disabled-token-revoked eu5-disabled-token-login-refused
eu5-disabled-gets-no-claims eu5-enable-lets-in eu5-account-daemon-down-ignored eu5-account-daemon-down-fail-closed
eu5-nonadmin-disable-refused eu5-nonadmin-enable-refused eu5-nonroot-checkaccount-refused
eu5-amr-svc-marks-units off-list-written off-list-state-copy off-list-replaced-atomically off-list-never-half-written
off-hung-disabled-refused off-hung-enabled-fail-open off-hung-enabled-fail-closed off-down-disabled-refused
off-down-enabled-fail-open off-enable-updates-list off-enabled-allowed-daemon-down off-list-wrong-owner-ignored off-list-of-daemon-user-believed
off-list-writable-ignored off-list-garbage-ignored off-list-restored-refuses off-list-missing-as-before
off-list-written-at-start off-list-written-on-reload off-list-write-failure-retried
id-alias-refused id-alias-no-claims id-alias-token-login-refused id-alias-live-key-revoked id-list-has-uid
id-audit-records-uid id-alias-refused-daemon-down id-enable-lets-both-in id-disable-alias-refuses-user
id-disable-alias-refuses-user-daemon-down id-enable-user-enables-alias id-old-rows-get-uid id-refresh-ends-alias-session
id-unknown-user-by-name
daemon-clean-shutdown"
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
check eu5-disabled-live-key-revoked poll 50 key_dead "$LIVE"
check eu5-disabled-token-revoked eval 'ctl --json token list --user "$DIS" | "$PY" -c "import json,sys; t=json.load(sys.stdin)[\"tokens\"][0]; sys.exit(0 if t[\"state\"]==\"revoked\" else 1)"'
EU5_SECRET=$TOKEN "$PAM_SESSION" --confdir "$PAMDIR" --service eu5-acct --user "$DIS" --authenticate \
        --password-from-env EU5_SECRET --no-session 2>"$TMP/tok.err"
check eu5-disabled-token-login-refused grep -q "pam_authenticate: Authentication failure" "$TMP/tok.err"
# The session hook alone (no account stack): fail=open opens it, without claims.
# In a session keyring of its own: a refused open joins none, and root's
# default one is shared with whatever else runs as root.
keyctl session - "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$DIS" \
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

# --- offboarding without the daemon
OFF=eu5-off-$$
OTHER_OFF=eu5-off2-$$
{ enrich_add_user "$OFF" && enrich_add_user "$OTHER_OFF"; } || { fail setup-users useradd; exit 1; }
LIST=$TMP/disabled-identities
# The account stack of sshd: ours, then pam_unix (pam_permit here).
cat >"$PAMDIR/off" <<EOF
account  [success=ok ignore=ignore default=bad] $BUILD/pam_enrich.so socket=$SOCK timeout=1000
account  required pam_permit.so
session  required pam_permit.so
EOF
# As installed: the list belongs to the daemon user, not root.
cat >"$PAMDIR/off-du" <<EOF
account  [success=ok ignore=ignore default=bad] $BUILD/pam_enrich.so socket=$SOCK timeout=1000 daemon_user=$U1
account  required pam_permit.so
session  required pam_permit.so
EOF
cat >"$PAMDIR/off-closed" <<EOF
account  required $BUILD/pam_enrich.so socket=$SOCK timeout=1000 fail=closed
account  required pam_permit.so
session  required pam_permit.so
EOF
# acct NAME SERVICE USER: pam_acct_mgmt alone; its status in $TMP/NAME.rc.
acct() {
        "$PAM_SESSION" --confdir "$PAMDIR" --service "$2" --user "$3" --acct-mgmt --no-session \
                >/dev/null 2>"$TMP/$1.err"
        echo $? >"$TMP/$1.rc"
}
acct_ms() { sed -n 's/^pam_acct_mgmt: .* in \([0-9]*\) ms$/\1/p' "$TMP/$1.err"; }
# denied NAME: refused with PAM_PERM_DENIED within the 1000 ms timeout
# (and a little for the process itself).
denied() {
        [ "$(cat "$TMP/$1.rc")" = 6 ] && grep -q "pam_acct_mgmt: Permission denied" "$TMP/$1.err" &&
                [ "$(acct_ms "$1")" -le 1300 ]
}
allowed() { [ "$(cat "$TMP/$1.rc")" = 0 ] && grep -q "pam_acct_mgmt: Success" "$TMP/$1.err"; }
listed() { [ "$(head -n1 "$LIST" 2>/dev/null)" = "# enrich disabled identities, format 2" ] && grep -qx -- "$1" "$LIST"; }
stop_daemon_quietly() {     # no clean-shutdown check: that one comes at the end
        kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
}

ctl disable "$OFF" --reason "offboarded" >/dev/null 2>&1
check off-list-written eval 'listed "$OFF" && ! listed "$DIS" && [ "$(stat -c %a:%u "$LIST")" = 600:0 ]' ||
        { ls -l "$TMP"; show "$LIST"; }
# The copy that tmpfiles puts back after a reboot: the same list, 0600.
check off-list-state-copy eval 'cmp -s "$LIST" "$TMP/state/disabled-identities" &&
        [ "$(stat -c %a "$TMP/state/disabled-identities")" = 600 ]'
INODE=$(stat -c %i "$LIST" 2>/dev/null)
ctl disable "$OTHER_OFF" --reason "offboarded too" >/dev/null 2>&1
check off-list-replaced-atomically eval '[ -n "$INODE" ] && [ "$(stat -c %i "$LIST")" != "$INODE" ] &&
        listed "$OTHER_OFF" && [ -z "$(ls "$TMP" | grep "^disabled-identities.")" ]'
# A reader racing 20 rewrites only ever sees a whole list: the header,
# $OFF (disabled throughout), and a final newline. It stops when told, or
# after 30 s.
cat >"$TMP/reader.py" <<'PY'
import sys, time
path, user = sys.argv[1:]
end, bad, reads = time.time() + 30, 0, 0
while time.time() < end:
    try:
        text = open(path).read()
    except FileNotFoundError:
        bad += 1
        continue
    reads += 1
    lines = text.split("\n")
    if lines[0] != "# enrich disabled identities, format 2" or user not in lines or not text.endswith("\n"):
        bad += 1
    try:
        open(path + ".stop").close()
        break
    except FileNotFoundError:
        pass
print(reads, bad)
PY
"$PY" "$TMP/reader.py" "$LIST" "$OFF" >"$TMP/reader.out" 2>&1 &
READER=$!
for i in $(seq 10); do
        ctl enable "$OTHER_OFF" >/dev/null 2>&1
        ctl disable "$OTHER_OFF" --reason "round $i" >/dev/null 2>&1
done
: >"$LIST.stop"
wait "$READER"
rm -f "$LIST.stop"
echo "# reader (reads, bad): $(cat "$TMP/reader.out")"
check off-list-never-half-written eval 'set -- $(cat "$TMP/reader.out"); [ "$1" -gt 0 ] && [ "$2" = 0 ]'

# The daemon hung: the call times out, the list answers.
kill -STOP "$DAEMON_PID"
acct hung off "$OFF"
acct hung-on off "$U1"
acct hung-on-closed off-closed "$U1"
kill -CONT "$DAEMON_PID"
echo "# hung daemon: disabled user refused in $(acct_ms hung) ms, enabled one allowed in $(acct_ms hung-on) ms"
check off-hung-disabled-refused denied hung || show "$TMP/hung.err"
check off-hung-enabled-fail-open allowed hung-on || show "$TMP/hung-on.err"
check off-hung-enabled-fail-closed eval '[ "$(cat "$TMP/hung-on-closed.rc")" = 6 ] &&
        grep -q "pam_acct_mgmt: Authentication failure" "$TMP/hung-on-closed.err"' || show "$TMP/hung-on-closed.err"

# The daemon stopped: the list outlives it.
stop_daemon_quietly
acct down off "$OFF"
acct down-on off "$U1"
check off-down-disabled-refused denied down || show "$TMP/down.err"
check off-down-enabled-fail-open allowed down-on || show "$TMP/down-on.err"

# Enabled again: off the list, so let in even with the daemon then down.
enrich_start_daemon || { fail daemon-restarts; exit 1; }
ctl enable "$OFF" >/dev/null 2>&1
check off-enable-updates-list eval '! listed "$OFF" && listed "$OTHER_OFF"' || show "$LIST"
stop_daemon_quietly
acct enabled-down off "$OFF"
check off-enabled-allowed-daemon-down allowed enabled-down || show "$TMP/enabled-down.err"

# A list someone else could have written is no list.
acct tamper-base off "$OTHER_OFF"
chown "$U1" "$LIST"
acct tamper-owner off "$OTHER_OFF"
check off-list-wrong-owner-ignored eval 'denied tamper-base && allowed tamper-owner' ||
        { show "$TMP/tamper-base.err"; show "$TMP/tamper-owner.err"; }
acct daemon-user off-du "$OTHER_OFF"
check off-list-of-daemon-user-believed denied daemon-user || show "$TMP/daemon-user.err"
chown root "$LIST"
chmod 0620 "$LIST"
acct tamper-mode off "$OTHER_OFF"
check off-list-writable-ignored allowed tamper-mode || show "$TMP/tamper-mode.err"
cp "$LIST" "$TMP/list.saved"
{ printf 'garbage\n%s\n' "$OTHER_OFF"; head -c 100000 /dev/urandom; } >"$LIST"
chmod 0600 "$LIST"
acct tamper-garbage off "$OTHER_OFF"
check off-list-garbage-ignored allowed tamper-garbage || show "$TMP/tamper-garbage.err"
cp "$TMP/list.saved" "$LIST"
acct restored off "$OTHER_OFF"
check off-list-restored-refuses denied restored || show "$TMP/restored.err"
# No list at all: as before it existed, fail= decides.
rm -f "$LIST"
acct missing off "$OTHER_OFF"
acct missing-closed off-closed "$OTHER_OFF"
check off-list-missing-as-before eval 'allowed missing && [ "$(cat "$TMP/missing-closed.rc")" = 6 ] &&
        grep -q "pam_acct_mgmt: Authentication failure" "$TMP/missing-closed.err"' ||
        { show "$TMP/missing.err"; show "$TMP/missing-closed.err"; }
# The daemon writes it at start-up, and again on reload.
enrich_start_daemon || { fail daemon-restarts; exit 1; }
check off-list-written-at-start listed "$OTHER_OFF"
rm -f "$LIST"
ctl reload >/dev/null 2>&1
check off-list-written-on-reload listed "$OTHER_OFF"
# A write that fails (here: a directory in the way) is logged and retried.
rm -f "$LIST"
mkdir "$LIST"
ctl disable "$OFF" --reason "again" >/dev/null 2>&1
rmdir "$LIST"
check off-list-write-failure-retried eval 'grep -q "Failed to write the list of disabled identities" "$TMP/enrichd.log" &&
        poll 80 listed "$OFF"'

# --- an identity is its uid as well as its name (finding F4)
ID=eu5-id-$$
ALIAS=eu5-ida-$$
enrich_add_user "$ID" || { fail setup-users useradd; exit 1; }
ID_UID=$(id -u "$ID")
# Same uid, another name; removed on exit like the others.
useradd -M -d /nonexistent -s /bin/sh -o -u "$ID_UID" "$ALIAS" || { fail setup-users "useradd -o"; exit 1; }
CREATED_USERS="$CREATED_USERS $ALIAS"
ALIAS_TOKEN=$(ctl token issue "$ALIAS" --ttl 1h --scope s:read 2>/dev/null)
session_open idlive "$ALIAS"
IDLIVE=$(session_serial idlive)
ctl disable "$ID" --reason "F4 offboarding" >"$TMP/id-disable.out" 2>&1 || show "$TMP/id-disable.out"
acct id-alias off "$ALIAS"
check id-alias-refused denied id-alias || show "$TMP/id-alias.err"
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$ALIAS" \
        -- sh -c 'keyctl search @s user enrich:claims' >"$TMP/id-noclaims.out" 2>"$TMP/id-noclaims.err"
check id-alias-no-claims eval '! [ -s "$TMP/id-noclaims.out" ] &&
        grep -q "Refusing enrichment of disabled user $ALIAS" "$TMP/enrichd.log"' || show "$TMP/id-noclaims.err"
EU5_SECRET=$ALIAS_TOKEN "$PAM_SESSION" --confdir "$PAMDIR" --service eu5-acct --user "$ALIAS" --authenticate \
        --password-from-env EU5_SECRET --no-session 2>"$TMP/id-tok.err"
check id-alias-token-login-refused eval '[ -n "$ALIAS_TOKEN" ] &&
        grep -q "pam_authenticate: Authentication failure" "$TMP/id-tok.err"' || show "$TMP/id-tok.err"
check id-alias-live-key-revoked poll 50 key_dead "$IDLIVE"
session_close idlive
check id-list-has-uid eval 'listed "$ID" && listed "uid:$ID_UID"' || show "$LIST"
audit_uid() {
        ctl --json audit --action identity.disabled --user "$ID" --limit 10 | "$PY" -c 'import json, sys
sys.exit(0 if any(e["details"].get("uid") == int(sys.argv[1]) and e["details"].get("name") == sys.argv[2]
                  for e in json.load(sys.stdin)) else 1)' "$ID_UID" "$ID"
}
check id-audit-records-uid audit_uid
stop_daemon_quietly
acct id-alias-down off "$ALIAS"
check id-alias-refused-daemon-down denied id-alias-down || show "$TMP/id-alias-down.err"
enrich_start_daemon || { fail daemon-restarts; exit 1; }

ctl enable "$ID" >/dev/null 2>&1
acct id-en-alias off "$ALIAS"
acct id-en-user off "$ID"
check id-enable-lets-both-in eval 'allowed id-en-alias && allowed id-en-user &&
        account id-en-claims eu5-acct "$ALIAS" && jwt_claim id-en-claims "c[\"sub\"] == \"$ALIAS\"" &&
        ! listed "uid:$ID_UID"' || { show "$TMP/id-en-alias.err"; show "$TMP/id-en-claims.err"; show "$LIST"; }

# Disabling the alias disables the identity: the user is refused too.
ctl disable "$ALIAS" --reason "F4 alias" >/dev/null 2>&1
acct id-by-alias off "$ID"
check id-disable-alias-refuses-user denied id-by-alias || show "$TMP/id-by-alias.err"
stop_daemon_quietly
acct id-by-alias-down off "$ID"
check id-disable-alias-refuses-user-daemon-down denied id-by-alias-down || show "$TMP/id-by-alias-down.err"
enrich_start_daemon || { fail daemon-restarts; exit 1; }
# Enabling the user removes every row of its uid, the alias's included.
ctl enable "$ID" >/dev/null 2>&1
acct id-en2-alias off "$ALIAS"
check id-enable-user-enables-alias eval 'allowed id-en2-alias && ! listed "$ALIAS"' ||
        { show "$TMP/id-en2-alias.err"; show "$LIST"; }

# A row from before uids were kept (uid NULL) gets its uid at start-up.
ctl disable "$ID" --reason "F4 old row" >/dev/null 2>&1
stop_daemon_quietly
"$PY" -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("UPDATE disabled_identities SET uid = NULL"); c.commit()' \
        "$TMP/state/enrich.db"
enrich_start_daemon || { fail daemon-restarts; exit 1; }
acct id-old off "$ALIAS"
check id-old-rows-get-uid eval 'listed "uid:$ID_UID" && denied id-old' || { show "$LIST"; show "$TMP/id-old.err"; }
ctl enable "$ID" >/dev/null 2>&1
# A live session that outlived the disabling of its uid (here: a row
# written while the daemon was down, as an older daemon left it) is not
# refreshed: the refresh ends it.
session_open idref "$ALIAS"
IDREF=$(session_serial idref)
stop_daemon_quietly
"$PY" -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO disabled_identities (user, reason, disabled_by, disabled) VALUES (?, ?, ?, 0)",
          (sys.argv[2], "F4 while down", "test"))
c.commit()' "$TMP/state/enrich.db" "$ID"
enrich_start_daemon || { fail daemon-restarts; exit 1; }
alive_before=no
keyctl describe "$IDREF" >/dev/null 2>&1 && alive_before=yes
ctl refresh >"$TMP/id-refresh.out" 2>&1
check id-refresh-ends-alias-session eval '[ "$alive_before" = yes ] && poll 50 key_dead "$IDREF"' ||
        { show "$TMP/id-refresh.out"; echo "# key alive before refresh: $alive_before"; }
session_close idref
ctl enable "$ID" >/dev/null 2>&1

# A user NSS does not know (deleted from the directory) is disabled by name.
GONE=eu5-gone-$$
ctl disable "$GONE" --reason "already deleted" >"$TMP/gone.out" 2>&1
check id-unknown-user-by-name eval 'listed "$GONE" &&
        "$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.CheckAccount "{\"user\":\"$GONE\"}" | grep -q "\"disabled\": *true"' ||
        { show "$TMP/gone.out"; show "$LIST"; }
enrich_finish
