[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# paging.sh: the listings page. With 1,000 active grants for one user, 300+
# open sessions, 300+ tokens and 600 retired signing keys, every form of
# enrichctl grants, sessions, token list and keys prints every record (no "reply too large"), as root and,
# for grants and sessions, as the user itself; a raw call with limit 5
# returns 5 rows and a next; following next returns every row exactly once,
# in order, even when rows are added between pages; a bad limit or after is
# InvalidParameter; a plain user still sees only its own rows.
. "$(dirname "$0")/lib.sh"

CHECKS="setup-keys setup-grants setup-sessions setup-tokens keys-json-lists-all keys-table-lists-all walk-keys-once-in-order
grants-json-lists-all grants-table-lists-all grants-user-json-lists-own-all grants-all-json-lists-all
sessions-json-lists-all sessions-table-lists-all sessions-user-json-lists-own
tokens-json-lists-all tokens-table-lists-all
raw-limit-5-returns-5-and-next raw-page-fits-message raw-default-page-bounded
walk-grants-once-in-order walk-grants-with-inserts-no-duplicates
walk-sessions-once-in-order walk-tokens-with-inserts-no-duplicates walk-user-own-grants
bad-paging-parameters-refused plain-user-pages-only-own plain-user-cannot-list-others
completion-lists-every-grant daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
U3=enrich-t3-$$
U4=enrich-t4-$$
if ! enrich_add_user "$U3" || ! enrich_add_user "$U4"; then
        fail "setup-users" "useradd failed"
        exit 1
fi
N_GRANTS=1000
N_SESSIONS=320
N_TOKENS=320    # 80 for each of four users: a user may hold 100 live tokens
N_ROTATIONS=600
PAGING="$PY $HERE/paging.py"
enrich_write_config <<EOF
claims_ttl = 600;
max_ttl = 86400;
rules = ( { name = "base"; match = { services = ["enrich-test"]; }; grant = { scopes = ["base:read"]; }; } );
EOF
if ! enrich_start_daemon; then
        fail "daemon-starts" "enrichd did not start"
        exit 1
fi
# The sessions' process: alive for the whole test, so none of them ends.
sleep 600 &
HOLDER=$!
CLEANUP_PIDS="$CLEANUP_PIDS $HOLDER"

# count FILE KEY: the number of rows of KEY in a JSON reply, if their ids
# are distinct.
count() {
        "$PY" -c 'import json,sys
rows = json.load(open(sys.argv[1]))[sys.argv[2]]
key = "sid" if sys.argv[2] == "sessions" else "id"
print(len(rows) if len({r[key] for r in rows}) == len(rows) else "duplicates")' "$1" "$2" 2>/dev/null
}
# field FILE EXPR: EXPR of the JSON in FILE (as r), printed.
field() { "$PY" -c 'import json,sys; r = json.load(open(sys.argv[1])); print('"$2"')' "$1" 2>/dev/null; }
# order FILE KEY: the ids of a whole listing, one a line; walked FILE: those of a walk.
order() { "$PY" -c 'import json,sys
key = sys.argv[2]; idk = "sid" if key == "sessions" else "id"
print("\n".join(r[idk] for r in json.load(open(sys.argv[1]))[key]))' "$1" "$2" 2>/dev/null; }
walked() { "$PY" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["ids"]))' "$1" 2>/dev/null; }
# same_ids NAME EXPECTED ACTUAL WALKFILE: check_eq without the long lists.
same_ids() {
        if [ -n "$2" ] && [ "$2" = "$3" ]; then
                ok "$1"
        else
                fail "$1" "$(printf '%s' "$2" | grep -c .) ids expected, walked $(printf '%s' "$3" | sort -u | grep -c .) distinct of $(printf '%s' "$3" | grep -c .)"
                field "$4" 'r["error"], r["sizes"]' | show /dev/stdin
        fi
}

# --- many rows, through the real methods (as root, as pam_enrich and admins call them)
VERIFIER=$(printf 'v%.0s' $(seq 43))
# Retired keys stay for good: 600 rotations (compromised ones, which take
# the old key out at once, so nothing caps them) outgrow one reply.
$PAGING bulk "$SOCK" io.enrich.RotateKey $N_ROTATIONS '{"compromised": true}' >"$TMP/bulk-keys.json"
check_eq setup-keys $N_ROTATIONS "$(field "$TMP/bulk-keys.json" 'r["done"]')" || show "$TMP/bulk-keys.json"
$PAGING bulk "$SOCK" io.enrich.Grant $N_GRANTS \
        '{"user": "'"$U1"'", "scopes": ["s:{i}"], "ttl": 7200, "reason": "paging test {i}"}' \
        >"$TMP/bulk-grants.json"
check_eq setup-grants $N_GRANTS "$(field "$TMP/bulk-grants.json" 'r["done"]')" || show "$TMP/bulk-grants.json"
$PAGING bulk "$SOCK" io.enrich.Enrich $N_SESSIONS \
        '{"user": "'"$U1"'", "service": "enrich-test", "tty": "pts/{i}", "pid": '"$HOLDER"'}' \
        >"$TMP/bulk-sessions.json"
check_eq setup-sessions $N_SESSIONS "$(field "$TMP/bulk-sessions.json" 'r["done"]')" || show "$TMP/bulk-sessions.json"
issued=0
for u in "$U1" "$U2" "$U3" "$U4"; do
        $PAGING bulk "$SOCK" io.enrich.TokenIssue $((N_TOKENS / 4)) \
                '{"user": "'"$u"'", "ttl": 7200, "verifier": "'"$VERIFIER"'", "scopes": ["t:{i}"],
                  "description": "paging test token {i}"}' >"$TMP/bulk-tokens.json"
        issued=$((issued + $(field "$TMP/bulk-tokens.json" 'r["done"]')))
done
check_eq setup-tokens $N_TOKENS "$issued" || show "$TMP/bulk-tokens.json"

# --- enrichctl prints every record, in each form
ctl grants --json >"$TMP/grants.json" 2>"$TMP/grants.err"
check_eq grants-json-lists-all $N_GRANTS "$(count "$TMP/grants.json" grants)" || show "$TMP/grants.err"
ctl grants >"$TMP/grants.txt" 2>&1
check_eq grants-table-lists-all $N_GRANTS "$(grep -c 'paging test' "$TMP/grants.txt")" ||
        head -n 3 "$TMP/grants.txt" | show /dev/stdin
ctl_as "$U1" grants --json >"$TMP/grants-u1.json" 2>"$TMP/grants-u1.err"
check_eq grants-user-json-lists-own-all $N_GRANTS "$(count "$TMP/grants-u1.json" grants)" || show "$TMP/grants-u1.err"
ctl grants --all --user "$U1" --json >"$TMP/grants-all.json" 2>"$TMP/grants-all.err"
check_eq grants-all-json-lists-all $N_GRANTS "$(count "$TMP/grants-all.json" grants)" || show "$TMP/grants-all.err"

ctl sessions --json >"$TMP/sessions.json" 2>"$TMP/sessions.err"
check_eq sessions-json-lists-all $N_SESSIONS "$(count "$TMP/sessions.json" sessions)" || show "$TMP/sessions.err"
ctl sessions >"$TMP/sessions.txt" 2>&1
check_eq sessions-table-lists-all $N_SESSIONS "$(grep -c "$U1" "$TMP/sessions.txt")" ||
        head -n 3 "$TMP/sessions.txt" | show /dev/stdin
ctl_as "$U1" sessions --json >"$TMP/sessions-u1.json" 2>"$TMP/sessions-u1.err"
check_eq sessions-user-json-lists-own $N_SESSIONS "$(count "$TMP/sessions-u1.json" sessions)" || show "$TMP/sessions-u1.err"

ctl token list --json >"$TMP/tokens.json" 2>"$TMP/tokens.err"
check_eq tokens-json-lists-all $N_TOKENS "$(count "$TMP/tokens.json" tokens)" || show "$TMP/tokens.err"
ctl token list >"$TMP/tokens.txt" 2>&1
check_eq tokens-table-lists-all $N_TOKENS "$(grep -c 'paging test token' "$TMP/tokens.txt")" ||
        head -n 3 "$TMP/tokens.txt" | show /dev/stdin

ctl keys --json >"$TMP/keys.json" 2>"$TMP/keys.err"
keys_all() { "$PY" -c 'import json,sys
keys = json.load(open(sys.argv[1]))["keys"]
sys.exit(not (len({k["kid"] for k in keys}) == len(keys) == int(sys.argv[2]) + 1 and keys[0]["state"] == "signing"))' \
        "$TMP/keys.json" $N_ROTATIONS; }
check keys-json-lists-all keys_all || show "$TMP/keys.err"
ctl_as "$U1" keys >"$TMP/keys.txt" 2>&1
check_eq keys-table-lists-all $((N_ROTATIONS + 1)) "$(grep -c 'signing\|retired\|published' "$TMP/keys.txt")" ||
        head -n 3 "$TMP/keys.txt" | show /dev/stdin

# --- the raw protocol
"$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.ListGrants '{"limit": 5}' >"$TMP/raw5.json"
check_eq raw-limit-5-returns-5-and-next "5 True" \
        "$(field "$TMP/raw5.json" 'len(r["parameters"]["grants"]), isinstance(r["parameters"].get("next"), str)' | tr -d '(),')" ||
        show "$TMP/raw5.json"
# Grants of about 300 bytes: limit 1000 would pass 64 KiB, so the page
# stops short, with a next, and fits.
"$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.ListGrants '{"limit": 1000}' >"$TMP/raw1000.json"
check raw-page-fits-message "$PY" -c 'import json,sys
r = json.load(open(sys.argv[1]))["parameters"]
n = len(r["grants"])
print("# %d grants in %d bytes" % (n, len(json.dumps(r, separators=(",", ":")))))
sys.exit(not (0 < n < 1000 and isinstance(r.get("next"), str) and len(json.dumps(r, separators=(",", ":"))) < 65536))' \
        "$TMP/raw1000.json" ||
        head -c 300 "$TMP/raw1000.json" | show /dev/stdin
"$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.TokenList '{}' >"$TMP/rawdefault.json"
check raw-default-page-bounded "$PY" -c 'import json,sys
r = json.load(open(sys.argv[1]))["parameters"]
sys.exit(not (0 < len(r["tokens"]) <= 200 and isinstance(r.get("next"), str)))' "$TMP/rawdefault.json" ||
        head -c 300 "$TMP/rawdefault.json" | show /dev/stdin

# --- following next: every row once, in the order of the whole listing
$PAGING walk "$SOCK" io.enrich.ListGrants grants id 37 '{}' >"$TMP/walk-grants.json"
same_ids walk-grants-once-in-order "$(order "$TMP/grants.json" grants)" "$(walked "$TMP/walk-grants.json")" \
        "$TMP/walk-grants.json"
# New rows between pages sort before the cursor (newest first): never on a
# later page, and no old row twice or missing.
$PAGING walk "$SOCK" io.enrich.ListGrants grants id 50 '{}' io.enrich.Grant \
        '{"user": "'"$U1"'", "scopes": ["new:{i}"], "ttl": 7200, "reason": "added between pages {i}"}' \
        >"$TMP/walk-insert.json"
same_ids walk-grants-with-inserts-no-duplicates "$(order "$TMP/grants.json" grants)" "$(walked "$TMP/walk-insert.json")" \
        "$TMP/walk-insert.json"
as_user "$U2" $PAGING walk "$SOCK" io.enrich.ListKeys keys kid 45 '{}' >"$TMP/walk-keys.json"
same_ids walk-keys-once-in-order "$("$PY" -c 'import json,sys
print("\n".join(k["kid"] for k in json.load(open(sys.argv[1]))["keys"]))' "$TMP/keys.json")" \
        "$(walked "$TMP/walk-keys.json")" "$TMP/walk-keys.json"
$PAGING walk "$SOCK" io.enrich.ListSessions sessions sid 64 '{}' >"$TMP/walk-sessions.json"
same_ids walk-sessions-once-in-order "$(order "$TMP/sessions.json" sessions)" "$(walked "$TMP/walk-sessions.json")" \
        "$TMP/walk-sessions.json"
$PAGING walk "$SOCK" io.enrich.TokenList tokens id 33 '{}' io.enrich.TokenIssue \
        '{"user": "'"$U2"'", "ttl": 60, "verifier": "'"$VERIFIER"'"}' >"$TMP/walk-tokens.json"
same_ids walk-tokens-with-inserts-no-duplicates "$(order "$TMP/tokens.json" tokens)" "$(walked "$TMP/walk-tokens.json")" \
        "$TMP/walk-tokens.json"
ctl_as "$U1" grants --json >"$TMP/grants-u1-now.json"
as_user "$U1" $PAGING walk "$SOCK" io.enrich.ListGrants grants id 99 '{}' >"$TMP/walk-u1.json"
same_ids walk-user-own-grants "$(order "$TMP/grants-u1-now.json" grants)" "$(walked "$TMP/walk-u1.json")" \
        "$TMP/walk-u1.json"

# --- bad paging parameters are refused; good ones (a next from a reply)
# are not
bad_paging() {
        local p m out key next
        for m in io.enrich.ListGrants io.enrich.ListSessions io.enrich.TokenList io.enrich.ListKeys; do
                key=$(case $m in *Grants) echo grants ;; *Sessions) echo sessions ;; *Keys) echo keys ;; *) echo tokens ;; esac)
                "$PY" "$HERE/varlink_call.py" "$SOCK" "$m" '{"limit": 1}' >"$TMP/good.json"
                next=$(field "$TMP/good.json" 'r["parameters"]["next"]')
                "$PY" "$HERE/varlink_call.py" "$SOCK" "$m" '{"limit": 1000, "after": "'"$next"'"}' >"$TMP/good.json"
                [ -n "$(field "$TMP/good.json" 'r["parameters"]["'"$key"'"][0]')" ] ||
                        { echo "# $m refused a good cursor $next"; show "$TMP/good.json"; return 1; }
                for p in '{"limit": 0}' '{"limit": 1001}' '{"limit": -1}' '{"limit": "5"}' '{"limit": 2.5}' \
                         '{"after": ""}' '{"after": 5}' '{"after": "garbage"}' '{"after": "1."}' '{"after": ".abc"}' \
                         '{"after": "12x.abc"}' '{"after": "1.a b"}' '{"after": "1.a/b"}' '{"after": "-.abc"}' \
                         '{"after": "99999999999999999999.abc"}' '{"after": "1.'"$(printf 'a%.0s' $(seq 65))"'"}'; do
                        out=$("$PY" "$HERE/varlink_call.py" "$SOCK" "$m" "$p")
                        case $out in
                        *'"error": "io.enrich.InvalidParameter"'*) ;;
                        *) echo "# $m $p: $out"; return 1 ;;
                        esac
                done
        done
}
check bad-paging-parameters-refused bad_paging

# --- a plain user pages through its own rows only
ctl grant "$U2" --scope u2:only --ttl 1h --reason "u2 grant" >/dev/null 2>&1
own_only() {
        as_user "$U2" $PAGING walk "$SOCK" io.enrich.ListGrants grants id 1 '{}' >"$TMP/walk-u2.json" &&
        [ "$(field "$TMP/walk-u2.json" 'len(r["ids"]), r["error"]')" = "1 None" ] &&
        as_user "$U2" "$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.ListSessions '{"limit": 1000}' >"$TMP/u2-sessions.json" &&
        [ "$(field "$TMP/u2-sessions.json" 'len(r["parameters"]["sessions"]), "next" in r["parameters"]')" = "0 False" ]
}
check plain-user-pages-only-own own_only || { show "$TMP/walk-u2.json"; show "$TMP/u2-sessions.json"; }
as_user "$U2" "$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.ListGrants '{"user": "'"$U1"'", "limit": 5}' >"$TMP/u2-other.json"
check plain-user-cannot-list-others grep -q '"io.enrich.PermissionDenied"' "$TMP/u2-other.json" || show "$TMP/u2-other.json"

# --- bash completion still offers every grant id: the 1,000, those added
# during the walk, and U2's
completion_ids() {
        bash -c '. "$1"; _enrichctl_cmd=("$2" --socket "$3"); _enrichctl_ids id grants' _ \
                "$HERE/../../client-lib/enrichctl/enrichctl.bash-completion" "$ENRICHCTL" "$SOCK" | sort -u | wc -l
}
ctl grants --json >"$TMP/grants-now.json"
check_eq completion-lists-every-grant "$(count "$TMP/grants-now.json" grants)" "$(completion_ids)"

kill "$HOLDER" 2>/dev/null
enrich_finish
