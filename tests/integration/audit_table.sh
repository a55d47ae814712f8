[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# audit_table.sh: `enrichctl audit` as an administrator reads it, against a
# real enrichd: a header and columns sized to their content (a user name
# of 20+ characters does not shift them), times in the details in ISO 8601
# instead of epoch seconds, --since/--until with absolute times (today,
# yesterday, a local "YYYY-MM-DD HH:MM:SS", ISO 8601 with a zone, @EPOCH)
# as well as durations, --result, and --follow that shows a row written
# after it started, ends with exit 0 on Ctrl-C (SIGINT) and with a clear
# message when the daemon goes away.
. "$(dirname "$0")/lib.sh"

CHECKS="at-header at-columns-aligned at-long-name-shown at-details-iso at-details-no-epoch
at-result-denied at-result-ok-excludes at-since-today at-until-yesterday-empty at-until-epoch
at-since-epoch at-until-local at-since-iso-zone at-bad-time-refused at-until-before-since-refused
at-follow-header at-follow-new-row at-follow-sigint-exit-0 at-follow-daemon-gone-message
at-follow-daemon-gone-exit daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
LONG=eu17-a-rather-long-name-$$
enrich_add_user "$LONG" || { fail setup-users "useradd $LONG"; exit 1; }
enrich_write_config <<EOF
max_ttl = 7200;
EOF
enrich_start_daemon || { fail at-daemon "enrichd did not start"; enrich_finish; }

ctl grant "$U1" --scope eu17:a --ttl 1h --reason "eu17 short" >/dev/null 2>&1
ctl grant "$LONG" --scope eu17:b --ttl 1h --reason "eu17 long" >/dev/null 2>&1
# A refused call, audited as "denied".
ctl_as "$U2" grants --user "$U1" >/dev/null 2>&1
sleep 1.1
T0=$(date +%s)
sleep 1.1
ctl grant "$U2" --scope eu17:c --ttl 1h --reason "eu17 after" >/dev/null 2>&1

ctl audit >"$TMP/all.txt" 2>"$TMP/all.err"
check at-header grep -qE '^ID +TIME +ACTOR +USER +ACTION +RESULT +DETAILS$' <(head -n1 "$TMP/all.txt") ||
        show "$TMP/all.txt"
# Every row's ACTION and RESULT start under their headers.
aligned() {
        "$PY" - "$TMP/all.txt" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
head = lines[0]
cols = [m.start() for m in re.finditer(r"\S+", head)]
ok = len(lines) > 3
for line in lines[1:]:
    for c in cols[1:]:
        if line[c - 2:c] != "  " or line[c] == " ":
            ok = False
            print("# misaligned at %d: %s" % (c, line))
            break
sys.exit(0 if ok else 1)
PY
}
check at-columns-aligned aligned || show "$TMP/all.txt"
check at-long-name-shown grep -qF " $LONG " "$TMP/all.txt"
grant_line() { grep -F 'grant.created' "$TMP/all.txt" | grep -F "$1"; }
check at-details-iso eval 'grant_line "eu17 short" | grep -qE "\"expires\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}\""' ||
        grant_line "eu17 short"
check_not at-details-no-epoch grep -qE '"expires":[0-9]' "$TMP/all.txt"

# ---- --result ----
count() { "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
results() { "$PY" -c 'import json,sys; print(" ".join(sorted({e["result"] for e in json.load(sys.stdin)})))'; }
check_eq at-result-denied "denied" "$(ctl --json audit --result denied | results)"
check_eq at-result-ok-excludes "ok" "$(ctl --json audit --result ok | results)"

# ---- --since / --until ----
ALL=$(ctl --json audit | count)
check_eq at-since-today "$ALL" "$(ctl --json audit --since today | count)"
check_eq at-until-yesterday-empty 0 "$(ctl --json audit --until yesterday | count)"
AFTER=$(ctl --json audit --since "@$((T0 + 1))" | count)
BEFORE=$(ctl --json audit --until "@$T0" | count)
check at-until-epoch eval '[ "$BEFORE" -gt 0 ] && [ "$((BEFORE + AFTER))" = "$ALL" ]' ||
        echo "# $BEFORE before, $AFTER after, $ALL in all"
check at-since-epoch eval 'ctl --json audit --since "@$((T0 + 1))" | grep -q "eu17 after" &&
        ! ctl --json audit --since "@$((T0 + 1))" | grep -q "eu17 short"'
LOCAL=$(ctl --json audit --until "$(date -d "@$T0" '+%Y-%m-%d %H:%M:%S')" | count)
check at-until-local eval '[ "$BEFORE" -gt 0 ] && [ "$LOCAL" = "$BEFORE" ]' || echo "# $LOCAL, wanted $BEFORE"
ISO=$(ctl --json audit --since "$(date -u -d "@$((T0 + 1))" '+%Y-%m-%dT%H:%M:%SZ')" | count)
check at-since-iso-zone eval '[ "$AFTER" -gt 0 ] && [ "$ISO" = "$AFTER" ]' || echo "# $ISO, wanted $AFTER"
ctl audit --since "2026-13-45" >/dev/null 2>"$TMP/bad.err"
RC=$?
check at-bad-time-refused eval '[ $RC = 2 ] && grep -q "today, yesterday" "$TMP/bad.err"' || show "$TMP/bad.err"
ctl audit --since today --until yesterday >/dev/null 2>"$TMP/bad.err"
check at-until-before-since-refused grep -q "is before --since" "$TMP/bad.err" || show "$TMP/bad.err"

# ---- --follow ----
# follow ARGS...: enrichctl itself in the background (not a shell function
# around it, so that signals reach it), its pid in FOLLOW.
follow() {
        "$ENRICHCTL" --socket "$SOCK" --jwks "$JWKS" audit --follow "$@" &
        FOLLOW=$!
}
follow --action grant.created >"$TMP/follow.out" 2>"$TMP/follow.err"
CLEANUP_PIDS="$CLEANUP_PIDS $FOLLOW"
check at-follow-header poll 50 grep -qE '^ID +TIME' "$TMP/follow.out" || show "$TMP/follow.out"
ctl grant "$U1" --scope eu17:followed --ttl 1h --reason "eu17 followed" >/dev/null 2>&1
check at-follow-new-row poll 50 grep -q 'eu17 followed' "$TMP/follow.out" || show "$TMP/follow.out"
kill -INT "$FOLLOW"
wait "$FOLLOW"
RC=$?
check at-follow-sigint-exit-0 eval '[ "$RC" = 0 ] && [ ! -s "$TMP/follow.err" ]' ||
        { echo "# exit $RC"; show "$TMP/follow.err"; }

follow >"$TMP/follow2.out" 2>"$TMP/follow2.err"
CLEANUP_PIDS="$CLEANUP_PIDS $FOLLOW"
poll 50 grep -qE '^ID +TIME' "$TMP/follow2.out"
sleep 0.5
enrich_stop_daemon
for _ in $(seq 50); do kill -0 "$FOLLOW" 2>/dev/null || break; sleep 0.1; done
wait "$FOLLOW"
RC=$?
check at-follow-daemon-gone-message grep -q "closed the connection (stopped or restarted)" "$TMP/follow2.err" ||
        show "$TMP/follow2.err"
check_eq at-follow-daemon-gone-exit 2 "$RC"

enrich_finish
