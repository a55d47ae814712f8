[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# keyinit.sh: the session keyring a login's claims live in, with and without
# pam_keyinit force revoke before the module, and keys the user plants.
# - With pam_keyinit: the module keeps pam_keyinit's fresh keyring (owned by
#   the user), so pam_keyinit's revoke at close still covers the keyring the
#   login used.
# - Without it: the module joins its own keyring and revokes it at close.
# - A key named enrich:claims that the user adds or re-adds (say, a payload
#   saved before a revocation) is not the module's and is never believed.
. "$(dirname "$0")/lib.sh"

CHECKS="keyinit-key-in-pam-keyinit-keyring keyinit-keyring-revoked-at-close
own-keyring-revoked-at-close planted-key-ignored readded-revoked-payload-ignored
planted-key-is-users token-outside-audit-session-refused daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
cat >"$PAMDIR/enrich-keyinit" <<EOF
auth     required pam_permit.so
account  required pam_permit.so
session  required pam_permit.so
session  required pam_keyinit.so force revoke
session  required $BUILD/pam_enrich.so socket=$SOCK
EOF
if ! enrich_start_daemon; then
        fail daemon-starts "enrichd did not start"
        exit 1
fi
U1_UID=$(id -u "$U1")

# Inside a session, as the user: the session keyring's owner and id, and the
# serial of the claims key.
cat >"$TMP/where.sh" <<'EOF'
keyctl rdescribe @s >"$1.keyring" 2>&1
keyctl id @s >"$1.keyring_id" 2>&1
keyctl search @s user enrich:claims >"$1.serial" 2>&1
EOF
mkdir -m 0777 "$TMP/k"
gone() { [ -n "$1" ] && ! keyctl describe "$1" >/dev/null 2>&1; }   # revoked, or already collected

"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-keyinit --user "$U1" \
        -- sh "$TMP/where.sh" "$TMP/k/ki" 2>"$TMP/k/ki.err"
owner=$(cut -d';' -f2 "$TMP/k/ki.keyring" 2>/dev/null)
in_keyinit() { [ "$owner" = "$U1_UID" ] && [ -s "$TMP/k/ki.serial" ]; }
check keyinit-key-in-pam-keyinit-keyring in_keyinit || { show "$TMP/k/ki.keyring"; show "$TMP/k/ki.err"; }
check keyinit-keyring-revoked-at-close gone "$(cat "$TMP/k/ki.keyring_id")"

"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" \
        -- sh "$TMP/where.sh" "$TMP/k/own" 2>"$TMP/k/own.err"
check own-keyring-revoked-at-close gone "$(cat "$TMP/k/own.keyring_id")"

# The user unlinks the real key and adds one of their own with a copy of its
# payload; then root revokes the real key and the user re-adds the saved
# payload. libenrich must believe neither.
cat >"$TMP/plant.sh" <<'EOF'
out=$1 jwks=$2 ctl=$3
real=$(keyctl search @s user enrich:claims)
keyctl pipe "$real" >"$out.saved"
"$ctl" --jwks "$jwks" check --scope s:read; echo $? >"$out.before"
keyctl unlink "$real" @s >/dev/null
keyctl padd user enrich:claims @s <"$out.saved" >"$out.planted"
"$ctl" --jwks "$jwks" check --scope s:read 2>"$out.planted.err"; echo $? >"$out.planted.rc"
keyctl rdescribe "$(cat "$out.planted")" >"$out.planted.describe"
: >"$out.ready"
i=0; while [ ! -e "$out.revoked" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
keyctl unlink "$(cat "$out.planted")" @s >/dev/null 2>&1
keyctl padd user enrich:claims @s <"$out.saved" >/dev/null
"$ctl" --jwks "$jwks" check --scope s:read 2>"$out.readded.err"; echo $? >"$out.readded.rc"
EOF
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" --serial-file "$TMP/k/p.serial" \
        -- sh "$TMP/plant.sh" "$TMP/k/p" "$JWKS" "$ENRICHCTL" 2>"$TMP/k/p.err" &
SESSION_PID=$!
CLEANUP_PIDS="$CLEANUP_PIDS $SESSION_PID"
for i in $(seq 100); do [ -e "$TMP/k/p.ready" ] && break; sleep 0.1; done
keyctl revoke "$(cat "$TMP/k/p.serial")" >/dev/null 2>&1
: >"$TMP/k/p.revoked"
wait "$SESSION_PID"
planted_refused() { [ "$(cat "$TMP/k/p.before")" = 0 ] && [ "$(cat "$TMP/k/p.planted.rc")" = 1 ]; }
check planted-key-ignored planted_refused || { show "$TMP/k/p.planted.err"; show "$TMP/k/p.err"; }
check_eq readded-revoked-payload-ignored 1 "$(cat "$TMP/k/p.readded.rc" 2>/dev/null)" || show "$TMP/k/p.readded.err"
check_eq planted-key-is-users "$U1_UID" "$(cut -d';' -f2 "$TMP/k/p.planted.describe" 2>/dev/null)"

# A token bound to a login's audit session, presented by the same user from
# a process that has no audit session at all (root's test shell has none),
# is not that login's: WRONG_SESSION, not accepted because "unknown".
if [ -n "$AUDIT_FLAG" ] && [ "$(cat /proc/self/sessionid)" = 4294967295 ]; then
        "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" $AUDIT_FLAG \
                -- sh -c 'keyctl pipe "$(keyctl search @s user enrich:claims)"' >"$TMP/k/asid.token" 2>"$TMP/k/asid.err"
        as_user "$U1" "$BUILD/tests/verify_token" "$JWKS" <"$TMP/k/asid.token" >"$TMP/k/asid.out" 2>&1
        check token-outside-audit-session-refused grep -q '^ENRICH_E_WRONG_SESSION' "$TMP/k/asid.out" ||
                { show "$TMP/k/asid.out"; show "$TMP/k/asid.err"; }
else
        skip token-outside-audit-session-refused "needs audit sessions and a test shell outside any"
fi

enrich_finish
