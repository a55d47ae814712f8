[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# access.sh: the daemon authorizes every call from SO_PEERCRED. Only uid 0
# may ask for enrichment or attach/end sessions; any local user may ask for
# status and its own sessions. Calls are made with a tiny independent Varlink
# client (varlink_call.py) as root and as a test user.
. "$(dirname "$0")/lib.sh"

CHECKS="root-enrich-answers nonroot-enrich-denied nonroot-attachkey-denied
nonroot-endsession-denied nonroot-status-allowed nonroot-listsessions-own-only
root-listsessions-sees-all unknown-method-not-found daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
if ! enrich_start_daemon; then
        fail "daemon-starts" "enrichd did not start"
        exit 1
fi

# vcall OUTFILE USER|root METHOD PARAMS: one call, reply JSON in OUTFILE.
vcall() {
        local out=$1 who=$2; shift 2
        if [ "$who" = root ]; then
                "$PY" "$HERE/varlink_call.py" "$SOCK" "$@" >"$out" 2>&1
        else
                as_user "$who" "$PY" "$HERE/varlink_call.py" "$SOCK" "$@" >"$out" 2>&1
        fi
}
# jget FILE PYTHON-EXPR: evaluates EXPR with r = the reply object.
jget() {
        "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
                "$1" "$2" 2>/dev/null
}
is_error() {    # is_error FILE ERROR
        [ "$(jget "$1" 'r.get("error")')" = "$2" ] || { show "$1"; return 1; }
}

ENRICH_PARAMS="{\"user\":\"$U1\",\"service\":\"enrich-test\",\"pid\":$$}"

vcall "$TMP/root-enrich" root io.enrich.Enrich "$ENRICH_PARAMS"
root_enrich_ok() {
        [ "$(jget "$TMP/root-enrich" '"error" not in r and r["parameters"]["token"].count(".") == 2')" = True ] ||
                { show "$TMP/root-enrich"; return 1; }
}
check root-enrich-answers root_enrich_ok
SID=$(jget "$TMP/root-enrich" 'r["parameters"]["sid"]')

vcall "$TMP/u-enrich" "$U1" io.enrich.Enrich "$ENRICH_PARAMS"
check nonroot-enrich-denied is_error "$TMP/u-enrich" io.enrich.PermissionDenied

vcall "$TMP/u-attach" "$U1" io.enrich.AttachKey "{\"sid\":\"$SID\",\"keySerial\":1}"
check nonroot-attachkey-denied is_error "$TMP/u-attach" io.enrich.PermissionDenied

vcall "$TMP/u-end" "$U1" io.enrich.EndSession "{\"sid\":\"$SID\"}"
check nonroot-endsession-denied is_error "$TMP/u-end" io.enrich.PermissionDenied

vcall "$TMP/u-status" "$U1" io.enrich.Status '{}'
status_ok() {
        [ "$(jget "$TMP/u-status" '"error" not in r and "version" in r["parameters"]')" = True ] ||
                { show "$TMP/u-status"; return 1; }
}
check nonroot-status-allowed status_ok

# U2 must not see U1's session (made by root's Enrich above); root must.
vcall "$TMP/u2-list" "$U2" io.enrich.ListSessions '{}'
own_only() {
        [ "$(jget "$TMP/u2-list" '"error" not in r and all(s["user"] == "'"$U2"'" for s in r["parameters"]["sessions"])')" = True ] ||
                { show "$TMP/u2-list"; return 1; }
}
check nonroot-listsessions-own-only own_only
vcall "$TMP/root-list" root io.enrich.ListSessions '{}'
sees_all() {
        [ "$(jget "$TMP/root-list" 'any(s["sid"] == "'"$SID"'" for s in r["parameters"]["sessions"])')" = True ] ||
                { show "$TMP/root-list"; return 1; }
}
check root-listsessions-sees-all sees_all

vcall "$TMP/unknown" "$U1" io.enrich.NoSuchMethod '{}'
check unknown-method-not-found is_error "$TMP/unknown" org.varlink.service.MethodNotFound

enrich_finish
