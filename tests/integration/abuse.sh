[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# abuse.sh: what an unprivileged local user can try against enrich, and
# what must come of it:
# - every privileged io.enrich method (all but Status, ListSessions and
#   ListGrants, read from the interface file) is refused with
#   PermissionDenied, and the database is unchanged;
# - 1,000 connections (half of them slowloris) from one uid: past the
#   per-uid cap they are refused at once, and root's Enrich stays under
#   50 ms p99 (measured with a baseline in the same run);
# - bad inputs (oversized, nested, invalid UTF-8, NUL, hostile user names,
#   bad numbers) each get a clear error, malformed ones close only their
#   connection, others are still served, the database is unchanged;
# - forged tokens are rejected by libenrich and `enrichctl check`, each
#   with its own error;
# - the session's user cannot chown, chgrp, revoke or link its claims key
#   with write rights, and another user cannot read, describe or link it
#   (update, setperm and timeout are in keyring.sh); a key the user adds
#   themselves is ignored.
. "$(dirname "$0")/lib.sh"

# AuditList answers anyone, with only the rows about the caller; ListKeys
# lists the public keys. Request is any user's, for itself, and
# ListRequests shows its own (requests.sh holds both to their bounds).
# FleetJwks, like ListKeys, hands out public keys only.
PUBLIC_METHODS="Status ListSessions ListGrants AuditList ListKeys Request ListRequests FleetJwks"
CHECKS="abuse-methods-listed abuse-privileged-refused abuse-refusals-change-nothing abuse-refusals-audited
abuse-refusals-aggregated abuse-refusals-summarized
abuse-flood-extra-refused abuse-flood-refused-quickly abuse-flood-root-p99
abuse-flood-other-uid-served abuse-bad-inputs-errors abuse-malformed-closed abuse-bad-inputs-others-served
abuse-bad-inputs-change-nothing abuse-forged-baseline-verifies abuse-forged-rejected-libenrich
abuse-forged-rejected-enrichctl abuse-forged-user-key-ignored abuse-key-user-denied abuse-key-other-denied abuse-key-intact
abuse-daemon-alive daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
if ! enrich_start_daemon; then
        fail daemon-starts "enrichd did not start"
        exit 1
fi
DB=$TMP/state/enrich.db
VERIFY=$BUILD/tests/verify_token

# db_counts: "table rows" for every table, to compare before and after.
db_counts() {
        local t
        # Refusals are meant to add audit rows (audit.sh checks them): every
        # other table must stay as it was.
        for t in $(sqlite3 -cmd ".timeout 5000" "file:$DB?mode=ro" "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'audit%' ORDER BY name"); do
                echo "$t $(sqlite3 -cmd ".timeout 5000" "file:$DB?mode=ro" "SELECT count(*) FROM \"$t\"")"
        done
}
# vcall_as USER METHOD PARAMS: one call as USER; the reply's JSON.
vcall_as() { local u=$1; shift; as_user "$u" "$PY" "$HERE/varlink_call.py" "$SOCK" "$@"; }
reply_error() { "$PY" -c 'import json, sys; print(json.loads(sys.stdin.read()).get("error") or "")' 2>/dev/null; }

# ---- 1. privileged methods as an unprivileged user --------------------
# Plausible parameters, so a refusal cannot come from parameter checks.
declare -A PARAMS=(
        [Enrich]="{\"user\":\"$U2\",\"service\":\"enrich-test\",\"pid\":1}"
        [AttachKey]='{"sid":"x","keySerial":1}'
        [EndSession]='{"sid":"x"}'
        [Grant]="{\"user\":\"$U1\",\"scopes\":[\"admin\"],\"ttl\":3600,\"reason\":\"abuse\"}"
        [RevokeGrant]='{"id":"x"}'
        [RevokeSession]='{"sid":"x"}'
        [RevokeUser]="{\"user\":\"$U2\"}"
        [Explain]="{\"user\":\"$U2\",\"service\":\"enrich-test\"}"
        [Refresh]='{}'
        [Reload]='{}'
        [Authenticate]="{\"user\":\"$U1\",\"token\":\"x\",\"service\":\"enrich-test\"}"
        [TokenIssue]="{\"user\":\"$U1\",\"ttl\":3600}"
        [TokenList]='{}'
        [TokenRevoke]='{"id":"x"}'
        [TokenRotate]='{"id":"x","verifier":"x"}'
        [TokenUnlock]="{\"user\":\"$U1\"}"
        [Disable]="{\"user\":\"$U2\",\"reason\":\"abuse\"}"
        [Enable]="{\"user\":\"$U1\"}"
        [CheckAccount]="{\"user\":\"$U1\"}"
        [RotateKey]='{"compromised":true}'
        [FleetEnroll]='{"hostId":"x","kids":["y"]}'
)
METHODS=$(sed -n 's/^method \([A-Za-z]*\)(.*/\1/p' daemon/io.enrich.varlink)
listed() { [ "$(echo "$METHODS" | wc -w)" -ge 10 ] && echo "$METHODS" | grep -qx Grant; }
check abuse-methods-listed listed || echo "# methods: $METHODS"
BEFORE=$(db_counts)
refused_all() {
        local m reply err bad=0 params
        for m in $METHODS; do
                case " $PUBLIC_METHODS " in *" $m "*) continue ;; esac
                params=${PARAMS[$m]:-'{}'}
                reply=$(vcall_as "$U1" "io.enrich.$m" "$params")
                err=$(echo "$reply" | reply_error)
                if [ "$err" != io.enrich.PermissionDenied ]; then
                        echo "# $m as $U1: $reply"
                        bad=1
                fi
        done
        return $bad
}
AUDIT_BEFORE=$(sqlite3 -cmd ".timeout 5000" "file:$DB?mode=ro" "SELECT count(*) FROM audit")
check abuse-privileged-refused refused_all
check_eq abuse-refusals-change-nothing "$BEFORE" "$(db_counts)"
# Every refusal is audited, each method its own row, naming U1 and the method.
refusals_audited() {
        local m bad=0 n
        for m in $METHODS; do
                case " $PUBLIC_METHODS " in *" $m "*) continue ;; esac
                n=$(sqlite3 -cmd ".timeout 5000" "file:$DB?mode=ro" "SELECT count(*) FROM audit WHERE action = 'permission.denied' AND actor_uid = $U1_UID AND subject = '$U1' AND json_extract(details, '\$.method') = 'io.enrich.$m'")
                [ "$n" = 1 ] || { echo "# $m: $n permission.denied rows"; bad=1; }
        done
        return $bad
}
check abuse-refusals-audited refusals_audited
# Repeating them (200 rounds of Grant, within the default 60 s window) only
# counts: no row until the window closes, then one summary with the count.
AUDIT_MID=$(sqlite3 -cmd ".timeout 5000" "file:$DB?mode=ro" "SELECT count(*) FROM audit")
as_user "$U1" "$PY" "$HERE/varlink_many.py" "$SOCK" io.enrich.Grant "${PARAMS[Grant]}" 200 >/dev/null
check_eq abuse-refusals-aggregated "$AUDIT_MID" "$(sqlite3 -cmd ".timeout 5000" "file:$DB?mode=ro" "SELECT count(*) FROM audit")"

# ---- 2. connection flood ------------------------------------------------
"$PY" "$HERE/abuse.py" flood "$SOCK" "$U1_UID" "$(id -g "$U1")" "$U2" 1000 200 \
        "$U2_UID" "$(id -g "$U2")" >"$TMP/flood.json" 2>"$TMP/flood.err"
flood() { "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$TMP/flood.json" "$1" 2>/dev/null; }
if [ -s "$TMP/flood.json" ]; then
        echo "# flood: $(flood '"%d held, %d refused (slowest refusal %.1f ms); root Enrich p50/p99/max: baseline %.1f/%.1f/%.1f ms, under flood %.1f/%.1f/%.1f ms" % (r["held"], r["refused"], r["slowestRefusalMs"], r["baseline"]["p50"], r["baseline"]["p99"], r["baseline"]["max"], r["flood"]["p50"], r["flood"]["p99"], r["flood"]["max"])')"
else
        show "$TMP/flood.err"
fi
check_eq abuse-flood-extra-refused True "$(flood 'r["held"] <= 32 and r["held"] + r["refused"] == 1000')"
check_eq abuse-flood-refused-quickly True "$(flood 'r["slowestRefusalMs"] < 1000')"
check_eq abuse-flood-root-p99 True "$(flood 'r["flood"]["p99"] < 50')"
check_eq abuse-flood-other-uid-served True "$(flood 'r["otherStatus"]')"

# ---- 3. bad inputs ---------------------------------------------------------
BEFORE=$(db_counts)
"$PY" "$HERE/abuse.py" inputs "$SOCK" >"$TMP/inputs.jsonl" 2>"$TMP/inputs.err"
inputs_where() {  # prints the names of the cases for which EXPR is true
        "$PY" -c 'import json, sys
for line in open(sys.argv[1]):
    c = json.loads(line)
    if eval(sys.argv[2]): print(c["name"], c["error"], c["reason"], "closed" if c["closed"] else "open")' \
                "$TMP/inputs.jsonl" "$1"
}
sed 's/^/# /' "$TMP/inputs.err"
inputs_where 'True' | sed 's/^/# input: /'
nonempty() { [ "$(wc -l <"$TMP/inputs.jsonl")" -ge 40 ]; }
check_eq abuse-bad-inputs-errors "" "$(nonempty && inputs_where 'not c["error"] or not c["error"].startswith(("io.enrich.", "org.varlink.service."))' || echo missing)"
check_eq abuse-malformed-closed "" "$(inputs_where 'c["malformed"] and not c["closed"]')"
check_eq abuse-bad-inputs-others-served "" "$(inputs_where 'not c["othersServed"]')"
check_eq abuse-bad-inputs-change-nothing "$BEFORE" "$(db_counts)"

# ---- 4. forged tokens ----------------------------------------------------------
FORGE=$TMP/forged
mkdir -p "$FORGE" && chmod 0755 "$FORGE"
OWN_ASID=$(as_user "$U1" cat /proc/self/sessionid)
[ "$OWN_ASID" = 4294967295 ] && OWN_ASID=""
"$PY" "$HERE/forge_tokens.py" "$FORGE" "$U1_UID" $OWN_ASID
chmod 0644 "$FORGE"/*
declare -A EXPECT=(
        [other-key-same-kid]=ENRICH_E_BAD_SIGNATURE
        [other-key-own-kid]=ENRICH_E_UNKNOWN_KEY
        [alg-none]=ENRICH_E_MALFORMED
        [hs256-public-key]=ENRICH_E_MALFORMED
        [hs256-public-jwk]=ENRICH_E_MALFORMED
        [expired]=ENRICH_E_EXPIRED
        [not-yet-valid]=ENRICH_E_NOT_YET_VALID
        [other-host]=ENRICH_E_WRONG_HOST
        [other-uid]=ENRICH_E_WRONG_USER
        [other-asid]=ENRICH_E_WRONG_SESSION
        [truncated-signature]=ENRICH_E_BAD_SIGNATURE
        [padded-signature]=ENRICH_E_BAD_SIGNATURE
        [extended-signature]=ENRICH_E_BAD_SIGNATURE
        [tampered-payload]=ENRICH_E_BAD_SIGNATURE
)
[ -n "$OWN_ASID" ] || echo "# no audit session here: the other-asid token is not tested"
baseline_verifies() { as_user "$U1" "$VERIFY" "$FORGE/jwks.json" <"$FORGE/good" >/dev/null; }
check abuse-forged-baseline-verifies baseline_verifies ||
        as_user "$U1" "$VERIFY" "$FORGE/jwks.json" <"$FORGE/good" | sed 's/^/# /'
forged_libenrich() {
        local name got bad=0
        for name in "${!EXPECT[@]}"; do
                [ -f "$FORGE/$name" ] || continue
                got=$(as_user "$U1" "$VERIFY" "$FORGE/jwks.json" <"$FORGE/$name")
                echo "# libenrich, $name: $got"
                [ "${got%%:*}" = "${EXPECT[$name]}" ] || { echo "# expected ${EXPECT[$name]}"; bad=1; }
        done
        return $bad
}
check abuse-forged-rejected-libenrich forged_libenrich
# enrichctl check reads the token from the session keyring: each forged
# token goes, as the module puts it (root's key, the module's permissions),
# into a fresh session keyring that the user's enrichctl then inherits.
ctl_check_token() {
        keyctl session - sh -c 'k=$(keyctl padd user enrich:claims @s <"$1") && keyctl setperm "$k" 0x0b3f2f00 &&
                setpriv --reuid="$4" --regid="$5" --init-groups -- "$2" --jwks "$3" check --scope s:read --json' \
                sh "$FORGE/$1" "$ENRICHCTL" "$FORGE/jwks.json" "$U1_UID" "$(id -g "$U1")" 2>&1 | grep -v '^Joined'
}
forged_enrichctl() {
        local name out msg bad=0
        out=$(ctl_check_token good)
        echo "$out" | grep -q '"held": *true' || { echo "# good token: $out"; bad=1; }
        for name in "${!EXPECT[@]}"; do
                [ -f "$FORGE/$name" ] || continue
                out=$(ctl_check_token "$name")
                msg=$(as_user "$U1" "$VERIFY" "$FORGE/jwks.json" <"$FORGE/$name" | sed 's/^[^:]*: //')
                echo "$out" | grep -q '"held": *false' && echo "$out" | grep -qF "no valid claims: $msg" ||
                        { echo "# enrichctl check, $name: $out"; bad=1; }
        done
        return $bad
}
check abuse-forged-rejected-enrichctl forged_enrichctl
# A key the user adds themselves (not root's) is no claims at all, even
# with a token that verifies.
user_key_ignored() {
        as_user "$U1" keyctl session - sh -c 'keyctl padd user enrich:claims @s <"$1" >/dev/null &&
                "$2" --jwks "$3" check --scope s:read --json' sh "$FORGE/good" "$ENRICHCTL" "$FORGE/jwks.json" 2>&1 |
                grep -q '"reason": "no valid claims: No claims in this session keyring"'
}
check abuse-forged-user-key-ignored user_key_ignored

# ---- 5. the claims key ------------------------------------------------------
cat >"$TMP/abuse-inside.sh" <<'EOF'
out=$1
cd "$out" || exit 1
serial=$(keyctl search @s user enrich:claims 2>/dev/null)
echo "$serial" >serial
keyctl pipe "$serial" >token 2>/dev/null
: >ready
i=0
while [ ! -e go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
try() { name=$1; shift; "$@" >"$name.out" 2>&1; echo $? >"$name.rc"; }
try chown keyctl chown "$serial" "$(id -u)"
try chgrp keyctl chgrp "$serial" "$(id -g)"
try link-user keyctl link "$serial" @u
try link-user-session keyctl link "$serial" @us
try revoke keyctl revoke "$serial"
keyctl pipe "$serial" >token_after 2>&1
# Last, as it may remove the key: invalidation needs only search
# permission, so the user may drop their own claims (least privilege for
# themselves, nothing gained).
try invalidate keyctl invalidate "$serial"
: >finished
i=0
while [ ! -e done ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
exit 0
EOF
OUT=$TMP/k1
mkdir "$OUT" && chown "$U1" "$OUT"
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" \
        -- sh "$TMP/abuse-inside.sh" "$OUT" >"$TMP/k1.out" 2>"$TMP/k1.err" &
K1_PID=$!
CLEANUP_PIDS="$CLEANUP_PIDS $K1_PID"
poll 100 test -e "$OUT/ready"
SERIAL=$(cat "$OUT/serial" 2>/dev/null)
[ -n "$SERIAL" ] || { echo "# no claims key in the session"; show "$TMP/k1.err"; }
# Another user, given the serial: read, link into its own keyring, describe.
as_user "$U2" keyctl session - sh -c '
        keyctl pipe "$1" >/dev/null 2>&1 && echo read
        keyctl link "$1" @s >/dev/null 2>&1 && echo linked
        keyctl describe "$1" >/dev/null 2>&1 && echo described
        exit 0' sh "${SERIAL:-0}" >"$TMP/other.out" 2>&1
: >"$OUT/go"
poll 100 test -e "$OUT/finished"
user_denied() {
        local a bad=0
        [ -n "$SERIAL" ] || return 1
        for a in chown chgrp link-user link-user-session revoke; do
                if [ "$(cat "$OUT/$a.rc")" = 0 ] || ! grep -q 'Permission denied' "$OUT/$a.out"; then
                        echo "# user $a: rc $(cat "$OUT/$a.rc"): $(cat "$OUT/$a.out")"
                        bad=1
                fi
        done
        return $bad
}
check abuse-key-user-denied user_denied
other_denied() { [ -n "$SERIAL" ] && ! grep -v '^Joined' "$TMP/other.out" | grep -q .; }
check abuse-key-other-denied other_denied || show "$TMP/other.out"
intact() { [ -s "$OUT/token" ] && cmp -s "$OUT/token" "$OUT/token_after"; }
check abuse-key-intact intact
: >"$OUT/done"
wait "$K1_PID" 2>/dev/null

check abuse-daemon-alive kill -0 "$DAEMON_PID"
# Stopped, the daemon writes what it counted: the 201 refused Grant calls
# are two rows, the first and a summary of the other 200.
enrich_stop_daemon
check_eq abuse-refusals-summarized "2 201" "$(sqlite3 -cmd ".timeout 5000" "file:$DB?mode=ro" "SELECT count(*) || ' ' || sum(coalesce(json_extract(details, '\$.count'), 1)) FROM audit WHERE action = 'permission.denied' AND actor_uid = $U1_UID AND json_extract(details, '\$.method') = 'io.enrich.Grant'")"
enrich_finish
