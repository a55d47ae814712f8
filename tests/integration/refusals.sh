[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# refusals.sh: refused calls cost a bounded number of audit rows and log
# lines, whatever their pattern, against a real enrichd:
# - 12 users, each cycling through every call it is refused (more distinct
#   (uid, method) pairs than a user may hold slots for, more pairs in all
#   than the old 256-slot table), write at most a per-user constant of rows
#   per window; the rows' counts (a summary its count, any other row one)
#   add up to the refusals made; the per-user overflow summary says which
#   methods were tried, and how often;
# - the daemon's log (its stderr in the foreground) grows by a bounded
#   number of lines during such a flood, and the summary lines say how many
#   refusals they stand for;
# - connections refused over the per-uid cap log at most one line per
#   second, and a later line says how many were suppressed.
. "$(dirname "$0")/lib.sh"

CHECKS="rf-flood-refused rf-flood-rows-bounded rf-flood-counts-add-up rf-flood-overflow-summary
rf-flood-overflow-methods rf-flood-no-other-errors rf-log-bounded rf-log-summary-counts
rf-connect-refused rf-connect-log-bounded rf-connect-log-suppressed daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
N_USERS=12
USERS=""
for i in $(seq "$N_USERS"); do
        enrich_add_user "enrich-rf$i-$$" || { fail setup-users "useradd enrich-rf$i-$$"; exit 1; }
        USERS="$USERS enrich-rf$i-$$"
done
UIDS=$(for u in $USERS; do id -u "$u"; done | paste -sd,)
DB=$TMP/state/enrich.db
LOG=$TMP/enrichd.log
# A window longer than the test: every summary is written at shutdown.
enrich_write_config <<CONF
audit_refusal_window = 600;
CONF
enrich_start_daemon || { fail daemon-starts "enrichd did not start"; exit 1; }

q() { sqlite3 -cmd ".timeout 5000" "$DB" "$1"; }
jq_() { "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

# ---- 1. many users, every refused call in turn -------------------------------
LINES0=$(wc -l <"$LOG")
# shellcheck disable=SC2086
"$PY" "$HERE/refusal_flood.py" "$SOCK" 4 2 $USERS >"$TMP/flood.json" 2>"$TMP/flood.err"
LINES1=$(wc -l <"$LOG")
DENIED=$(jq_ "$TMP/flood.json" 'sum(d["denied"].values())')
METHODS=$(jq_ "$TMP/flood.json" 'len(d["methods"])')
echo "# $DENIED refused calls from $N_USERS users over $METHODS methods in 4 s; log grew by $((LINES1 - LINES0)) lines"
check rf-flood-refused eval '[ "$(jq_ "$TMP/flood.json" "min(d[\"denied\"].values())")" -ge 48 ] && [ "$METHODS" -ge 20 ]' ||
        { show "$TMP/flood.json"; show "$TMP/flood.err"; }
check_eq rf-flood-no-other-errors "{}" "$(jq_ "$TMP/flood.json" 'd["other"]')"
# The log during the flood: a line per row written at once (a user's first
# refusal of each method), nothing per call.
check rf-log-bounded eval '[ $((LINES1 - LINES0)) -le $((N_USERS * 32 + 20)) ]' ||
        { echo "# log grew by $((LINES1 - LINES0)) lines"; tail -5 "$LOG" | show /dev/stdin; }
enrich_stop_daemon
ROWS=$(q "SELECT count(*) FROM audit WHERE actor_uid IN ($UIDS)")
ACCOUNTED=$(q "SELECT coalesce(sum(coalesce(json_extract(details, '\$.count'), 1)), 0) FROM audit WHERE actor_uid IN ($UIDS)")
echo "# $ROWS rows account for $ACCOUNTED of $DENIED refusals"
# At most 16 slots of their own per user, each a row at once and a summary,
# and an overflow slot: a row for each of the first 16 methods it names and
# a summary (audit.h). A bound, whatever the calls.
check rf-flood-rows-bounded eval '[ "$ROWS" -le $((N_USERS * (2 * 16 + 16 + 1))) ]'
check_eq rf-flood-counts-add-up "$DENIED" "$ACCOUNTED"
# Every user overflowed its own slots; the overflow summary names the user
# (actor) and counts per method, and those add up to its count.
check_eq rf-flood-overflow-summary "$N_USERS" \
        "$(q "SELECT count(DISTINCT actor_uid) FROM audit WHERE actor_uid IN ($UIDS) AND json_extract(details, '\$.method') = '*' AND json_extract(details, '\$.count') > 0")"
check_eq rf-flood-overflow-methods "0" \
        "$(q "SELECT count(*) FROM audit WHERE actor_uid IN ($UIDS) AND json_extract(details, '\$.method') = '*'
              AND json_extract(details, '\$.count') != coalesce(json_extract(details, '\$.otherMethods'), 0) +
                  (SELECT coalesce(sum(value), 0) FROM json_each(details, '\$.methods'))")"
# The summary lines written at shutdown say how many refusals they stand
# for: with the lines written at once, they account for every refusal.
LOGGED=$(sed -n "$((LINES0 + 1)),\$p" "$LOG" | grep 'permission.denied denied' |
        "$PY" -c 'import re, sys; print(sum(int(m.group(1)) if m else 1 for m in (re.search(r"\"count\":(\d+)", l) for l in sys.stdin)))')
check_eq rf-log-summary-counts "$DENIED" "$LOGGED"

# ---- 2. connections over the per-uid cap --------------------------------------
enrich_start_daemon || { fail daemon-restarts "enrichd did not start"; exit 1; }
U=${USERS%% enrich-rf2-*}; U=${U# }
LINES0=$(wc -l <"$LOG")
T0=$(date +%s)
"$PY" "$HERE/refusal_flood.py" connect "$SOCK" 3 "$U" 32 600 >"$TMP/connect.json" 2>"$TMP/connect.err"
T1=$(date +%s)
sleep 0.2
LINES1=$(wc -l <"$LOG")
REFUSED_LINES=$(sed -n "$((LINES0 + 1)),${LINES1}p" "$LOG" | grep -c 'too many connections')
echo "# $(cat "$TMP/connect.json") in $((T1 - T0)) s: $REFUSED_LINES log lines"
check rf-connect-refused eval '[ "$(jq_ "$TMP/connect.json" "d[\"refused\"]")" -ge 500 ]' ||
        { show "$TMP/connect.json"; show "$TMP/connect.err"; }
# One line per wall-clock second (the flood takes 3 s, longer on a busy
# host): the T1 - T0 + 1 seconds it touches, and the next one, in which the
# daemon may still be refusing what was queued when the flood ended.
check rf-connect-log-bounded eval '[ "$REFUSED_LINES" -le $((T1 - T0 + 2)) ]'
check rf-connect-log-suppressed eval 'sed -n "$((LINES0 + 1)),${LINES1}p" "$LOG" | grep -q "too many connections.*more suppressed"'
enrich_finish
