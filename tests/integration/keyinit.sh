[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# keyinit.sh: the session keyring a login's claims live in, with and without
# pam_keyinit force revoke before the module, and keys the user plants.
# - With pam_keyinit force revoke: the module replaces pam_keyinit's fresh
#   keyring (which the user owns, and so could share) with its own, root's,
#   links the user keyring into it as pam_keyinit did, and revokes it at
#   close as pam_keyinit revokes its own.
# - With pam_keyinit force but no revoke: the login's keyring outlives the
#   close for the processes that stay in it, as pam_keyinit's would, but the
#   claims key in it is revoked at close.
# - Without it: the module joins its own keyring and revokes it at close.
# - The module joins its keyring while the daemon works on Enrich: a daemon
#   that never answers leaves the login (fail=open) in the module's keyring
#   without claims, and close_session still revokes that keyring. Without
#   the uid the daemon would have named, the keyring taken for
#   pam_keyinit's is given up, and no user keyring is linked (it might have
#   been another user's, root's in a root shell).
# - A key named enrich:claims that the user adds or re-adds (say, a payload
#   saved before a revocation) is not the module's and is never believed.
. "$(dirname "$0")/lib.sh"

CHECKS="keyinit-key-in-root-keyring keyinit-user-keyring-linked keyinit-keyring-revoked-at-close
norevoke-keyring-outlives-close norevoke-claims-revoked-at-close own-keyring-revoked-at-close
hung-open-keyring-is-modules hung-open-no-user-keyring hung-open-keyring-revoked-at-close planted-key-ignored readded-revoked-payload-ignored
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
cat >"$PAMDIR/enrich-keep" <<EOF
auth     required pam_permit.so
account  required pam_permit.so
session  required pam_permit.so
session  required pam_keyinit.so force
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
keyctl id @u >"$1.user_id" 2>&1
keyctl rlist @s >"$1.rlist" 2>&1
EOF
mkdir -m 0777 "$TMP/k"
gone() { [ -n "$1" ] && ! keyctl describe "$1" >/dev/null 2>&1; }   # revoked, or already collected

"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-keyinit --user "$U1" \
        -- sh "$TMP/where.sh" "$TMP/k/ki" 2>"$TMP/k/ki.err"
# Owned by root, possessor view/read/write/search, root view/read/write/
# setattr (ENRICH_SESSION_KEYRING_PERM), not the user-owned one of pam_keyinit.
root_keyring() { [ "$(cut -d';' -f2,4 "$TMP/k/ki.keyring" 2>/dev/null)" = "0;0f270000" ] && [ -s "$TMP/k/ki.serial" ]; }
check keyinit-key-in-root-keyring root_keyring || { show "$TMP/k/ki.keyring"; show "$TMP/k/ki.err"; }
user_linked() { [ -s "$TMP/k/ki.user_id" ] && tr ' ' '\n' <"$TMP/k/ki.rlist" | grep -qxF "$(cat "$TMP/k/ki.user_id")"; }
check keyinit-user-keyring-linked user_linked || show "$TMP/k/ki.rlist"
check keyinit-keyring-revoked-at-close gone "$(cat "$TMP/k/ki.keyring_id")"

# pam_keyinit force without revoke, and a process of the login that stays
# in its keyring after the login closes: the keyring lives on (as
# pam_keyinit's would), the claims key in it must be revoked by close.
cat >"$TMP/stay.sh" <<'EOF'
sh "$1" "$2"
sleep 60 </dev/null >/dev/null 2>&1 &
echo $! >"$2.stayer"
EOF
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-keep --user "$U1" \
        -- sh "$TMP/stay.sh" "$TMP/where.sh" "$TMP/k/keep" 2>"$TMP/k/keep.err"
STAYER=$(cat "$TMP/k/keep.stayer" 2>/dev/null)
CLEANUP_PIDS="$CLEANUP_PIDS $STAYER"
KEEP_RING=$(cat "$TMP/k/keep.keyring_id" 2>/dev/null)
KEEP_SERIAL=$(cat "$TMP/k/keep.serial" 2>/dev/null)
outlives() { [ -n "$STAYER" ] && kill -0 "$STAYER" && [ -n "$KEEP_SERIAL" ] && keyctl describe "$KEEP_RING" >/dev/null; }
check norevoke-keyring-outlives-close outlives || { show "$TMP/k/keep.err"; show "$TMP/k/keep.keyring"; }
# Revoked, not merely gone: the keyring that links it is alive.
revoked() { [ -n "$KEEP_SERIAL" ] && keyctl describe "$KEEP_SERIAL" 2>&1 | grep -q 'revoked'; }
check norevoke-claims-revoked-at-close revoked || keyctl describe "$KEEP_SERIAL" 2>&1 | sed 's/^/#   /'
[ -n "$STAYER" ] && kill "$STAYER" 2>/dev/null

"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" \
        -- sh "$TMP/where.sh" "$TMP/k/own" 2>"$TMP/k/own.err"
check own-keyring-revoked-at-close gone "$(cat "$TMP/k/own.keyring_id")"

"$PY" "$HERE/hung_listener.py" "$TMP/hung.sock" &
CLEANUP_PIDS="$CLEANUP_PIDS $!"
for i in $(seq 50); do [ -S "$TMP/hung.sock" ] && break; sleep 0.1; done
cat >"$PAMDIR/enrich-hung" <<EOF
auth     required pam_permit.so
account  required pam_permit.so
session  required pam_permit.so
session  required pam_keyinit.so force revoke
session  required $BUILD/pam_enrich.so socket=$TMP/hung.sock timeout=300 fail=open
EOF
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-hung --user "$U1" \
        -- sh "$TMP/where.sh" "$TMP/k/hung" 2>"$TMP/k/hung.err"
hung_modules() { [ "$(cut -d';' -f2,4 "$TMP/k/hung.keyring" 2>/dev/null)" = "0;0f270000" ] && ! grep -q '^[0-9]' "$TMP/k/hung.serial"; }
check hung-open-keyring-is-modules hung_modules || { show "$TMP/k/hung.keyring"; show "$TMP/k/hung.err"; }
hung_no_user() { [ -s "$TMP/k/hung.user_id" ] && ! tr ' ' '\n' <"$TMP/k/hung.rlist" | grep -qxF "$(cat "$TMP/k/hung.user_id")"; }
check hung-open-no-user-keyring hung_no_user || show "$TMP/k/hung.rlist"
check hung-open-keyring-revoked-at-close gone "$(cat "$TMP/k/hung.keyring_id")" || show "$TMP/k/hung.err"

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
