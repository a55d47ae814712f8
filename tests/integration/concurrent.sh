[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# concurrent.sh: 50 logins at once, each in its own audit session, all get
# distinct keys holding distinct, valid claims bound to their own audit
# session.
. "$(dirname "$0")/lib.sh"

N=50
CHECKS="concurrent-all-opened concurrent-all-keys concurrent-distinct-serials
concurrent-all-verified concurrent-distinct-sids concurrent-asid-matches daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
if ! enrich_start_daemon; then
        fail "daemon-starts" "enrichd did not start"
        exit 1
fi

# Inside each session, as the user: the key's serial, the audit session id,
# and what libenrich makes of the claims.
cat >"$TMP/inside.sh" <<'EOF'
echo "serial=$(keyctl search @s user enrich:claims 2>/dev/null)"
echo "sessionid=$(cat /proc/self/sessionid)"
ENRICH_JWKS=$1 "$2" --jwks "$1" whoami --json >"$3.whoami" 2>"$3.whoami.err"
echo "whoami=$?"
EOF
mkdir "$TMP/c" && chown "$U1" "$TMP/c"
pids=()
for i in $(seq $N); do
        "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" $AUDIT_FLAG \
                -- sh "$TMP/inside.sh" "$JWKS" "$ENRICHCTL" "$TMP/c/$i" \
                >"$TMP/c/$i.out" 2>"$TMP/c/$i.err" &
        pids+=($!)
        CLEANUP_PIDS="$CLEANUP_PIDS $!"
done
opened=0
for i in $(seq $N); do
        wait "${pids[$((i - 1))]}" && opened=$((opened + 1))
done
check_eq concurrent-all-opened $N $opened || for i in $(seq $N); do
        grep -q '^pam_open_session: Success' "$TMP/c/$i.err" || { show "$TMP/c/$i.err"; break; }
done

field() { sed -n "s/^$1=//p" "$TMP"/c/*.out; }
keys=$(field serial | grep -c .)
check_eq concurrent-all-keys $N "$keys"
check_eq concurrent-distinct-serials $N "$(field serial | grep . | sort -u | wc -l)"

verified=0 asid_ok=0
for i in $(seq $N); do
        [ "$(sed -n 's/^whoami=//p' "$TMP/c/$i.out")" = 0 ] || continue
        "$PY" "$HERE/check_claims.py" --sub "$U1" --uid "$U1_UID" --aud "$MACHINE_ID" \
                --group g-test --scope s:read --tenant acme <"$TMP/c/$i.whoami" >/dev/null &&
                verified=$((verified + 1))
        asid=$(sed -n 's/^sessionid=//p' "$TMP/c/$i.out")
        "$PY" "$HERE/check_claims.py" --asid "$asid" <"$TMP/c/$i.whoami" >/dev/null &&
                asid_ok=$((asid_ok + 1))
done
check_eq concurrent-all-verified $N $verified || show "$TMP/c/1.whoami.err"
sids=$(for i in $(seq $N); do
        "$PY" -c 'import json, sys
c = json.load(open(sys.argv[1]))
print(c.get("claims", c)["sid"])' "$TMP/c/$i.whoami" 2>/dev/null
done | sort -u | wc -l)
check_eq concurrent-distinct-sids $N "$sids"
skip_unless_audit concurrent-asid-matches && check_eq concurrent-asid-matches $N $asid_ok

enrich_finish
