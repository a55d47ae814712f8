[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# keyshare.sh: a login cannot hand its session keyring, and with it its
# claims key, to another login of the same user. Run with no audit session
# (no loginuid), where no asid binds the token to its login, so the keyring
# is all that separates two logins of one user. Both stacks: the module
# alone, and after pam_keyinit force revoke (whose keyring the user owns).
# Login A, as the user, tries what a user can do to its own session keyring:
# - keyctl setperm @s, to let any process of the user search it, and so
#   join it by name (keyctl session _ses) from another login;
# - keyctl link @s @u, to hang it from the user keyring @u: every process
#   of the user whose session keyring links @u (pam_keyinit's do, and anyone
#   can make one) possesses whatever hangs from @u.
# Login B, the same user, then joins "_ses" by name and searches through @u:
# neither may reach A's claims key.
. "$(dirname "$0")/lib.sh"

STACKS="enrich-test enrich-keyinit"
CHECKS=""
for s in $STACKS; do
        CHECKS="$CHECKS $s-no-audit-session $s-setperm-refused $s-link-into-user-keyring-refused
$s-join-by-name-gets-nothing $s-user-keyring-leads-nowhere $s-first-key-intact"
done
CHECKS="$CHECKS nested-own-keyring nested-own-key nested-invoking-key-intact daemon-clean-shutdown"
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

# The logins run with no audit session even if this test runs in one:
# writing "unset" to loginuid (root may) leaves the process without one.
no_audit() {
        if [ "$(cat /proc/self/sessionid)" = 4294967295 ]; then
                "$@"
        else
                sh -c 'echo 4294967295 >/proc/self/loginuid; exec "$@"' sh "$@"
        fi
}

# Login A: its claims, then the attempts to share its keyring; it stays
# open until B has looked, then undoes what it managed (so the user keyring
# of the throwaway user holds nothing of it).
cat >"$TMP/share.sh" <<'EOF'
out=$1
cd "$out" || exit 1
cat /proc/self/sessionid >sessionid
keyctl pipe "$(keyctl search @s user enrich:claims)" >token 2>token.err
keyctl rdescribe @s >ring 2>&1
keyctl setperm @s 0x3f3f3f3f >setperm.out 2>&1; echo $? >setperm.rc
keyctl unlink @u @s >/dev/null 2>&1
keyctl link @s @u >link.out 2>&1; echo $? >link.rc
: >ready
i=0; while [ ! -e done ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
keyctl pipe "$(keyctl search @s user enrich:claims)" >token_after 2>&1
keyctl unlink @s @u >/dev/null 2>&1
keyctl link @u @s >/dev/null 2>&1
exit 0
EOF
# Login B: what joining "_ses" by name gives it, and what it possesses
# through @u from a session keyring that links @u (any user can make one;
# pam_keyinit's do).
cat >"$TMP/steal.sh" <<'EOF'
out=$1
keyctl session _ses sh -c 'keyctl pipe "$(keyctl search @s user enrich:claims)"' \
        >"$out/joined" 2>"$out/joined.err"
keyctl session - sh -c 'keyctl link @u @s >/dev/null; keyctl pipe "$(keyctl search @s user enrich:claims)"' \
        >"$out/via_u" 2>"$out/via_u.err"
exit 0
EOF

for s in $STACKS; do
        A=$TMP/$s.a B=$TMP/$s.b
        mkdir "$A" "$B" && chown "$U1" "$A" "$B"
        no_audit "$PAM_SESSION" --confdir "$PAMDIR" --service "$s" --user "$U1" \
                -- sh "$TMP/share.sh" "$A" >"$A.out" 2>"$A.err" &
        A_PID=$!
        CLEANUP_PIDS="$CLEANUP_PIDS $A_PID"
        poll 100 test -e "$A/ready" || { echo "# login A ($s) did not get ready"; show "$A.err"; }
        no_audit "$PAM_SESSION" --confdir "$PAMDIR" --service "$s" --user "$U1" \
                -- sh "$TMP/steal.sh" "$B" >"$B.out" 2>"$B.err"
        : >"$A/done"
        wait "$A_PID"

        check_eq "$s-no-audit-session" 4294967295 "$(cat "$A/sessionid" 2>/dev/null)"
        [ -s "$A/token" ] || { echo "# login A ($s) has no claims"; show "$A.err"; show "$A/token.err"; }
        # Refused by the kernel (EACCES), on a login that had its claims.
        refused() { [ -s "$A/token" ] && [ "$(cat "$A/$1.rc")" != 0 ] && grep -q 'Permission denied' "$A/$1.out"; }
        check "$s-setperm-refused" refused setperm || { show "$A/setperm.out"; show "$A/ring"; }
        check "$s-link-into-user-keyring-refused" refused link || show "$A/link.out"
        # B must not come out with A's token, by either way.
        not_leaked() { [ -s "$A/token" ] && ! grep -qxF "$(cat "$A/token")" "$B/$1"; }
        check "$s-join-by-name-gets-nothing" not_leaked joined || { show "$B/joined.err"; show "$B.err"; }
        check "$s-user-keyring-leads-nowhere" not_leaked via_u || show "$B/via_u.err"
        first_intact() { [ -s "$A/token" ] && cmp -s "$A/token" "$A/token_after"; }
        check "$s-first-key-intact" first_intact || show "$A/token_after"
done

# A login opened from inside another, as sudo or su do (a root process in
# the invoking login's keyring): its own keyring, root's like any login's,
# its own key, and the invoking login's key untouched.
cat >"$TMP/nested.sh" <<'EOF'
out=$1; shift
keyctl id @s >"$out/outer_ring"
keyctl search @s user enrich:claims >"$out/outer_serial"
keyctl pipe "$(cat "$out/outer_serial")" >"$out/outer_token"
"$@" -- sh -c 'keyctl rdescribe @s; keyctl id @s; keyctl search @s user enrich:claims' \
        >"$out/inner" 2>"$out/inner.err"
keyctl pipe "$(keyctl search @s user enrich:claims)" >"$out/outer_token_after" 2>&1
EOF
N=$TMP/nested
mkdir "$N"
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-keyinit --user "$U1" --as-root \
        -- sh "$TMP/nested.sh" "$N" "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test \
        --user "$U2" --ruser "$U1" >"$N.out" 2>"$N.err"
inner_ring() { sed -n 2p "$N/inner"; }
own_ring() {
        [ -n "$(inner_ring)" ] && [ "$(inner_ring)" != "$(cat "$N/outer_ring")" ] &&
                [ "$(sed -n 1p "$N/inner" | cut -d';' -f2,4)" = "0;0f270000" ]
}
check nested-own-keyring own_ring || { show "$N/inner"; show "$N/inner.err"; show "$N.err"; }
own_key() { [ -n "$(sed -n 3p "$N/inner")" ] && [ -s "$N/outer_serial" ] && [ "$(sed -n 3p "$N/inner")" != "$(cat "$N/outer_serial")" ]; }
check nested-own-key own_key
intact() { [ -s "$N/outer_token" ] && cmp -s "$N/outer_token" "$N/outer_token_after"; }
check nested-invoking-key-intact intact || show "$N/outer_token_after"

enrich_finish
