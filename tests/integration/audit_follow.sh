[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# audit_follow.sh: `enrichctl audit --follow` and the open AuditList call
# under it (follow and more), against a real enrichd:
# - a row shows up in enrichctl's output within 100 ms of being committed
#   (the Grant's reply), 8 of 8: streamed, not polled;
# - the follow's filters apply; a user who is not an admin gets only the
#   rows about itself, without who made them;
# - follows are bounded: 4 per uid, and the uids other than root together
#   24 (of 32); the next is refused with TooManyFollows, root still gets
#   one; a follow is one of the uid's 32 connections (4 follows leave 28);
#   while 24 follows are parked and 300 rows flow, root's Status
#   answers within 100 ms each time;
# - a follow that never reads is closed at the connection's output limit,
#   and the daemon's memory grows by less than 3 MiB while 4000 rows of
#   1 KiB it did not read are written;
# - an admin's follow of every user's rows ends (PermissionDenied) once
#   the admin leaves admin_group, before it shows another row;
# - Ctrl-C and a daemon that goes away: audit_table.sh.
. "$(dirname "$0")/lib.sh"

CHECKS="af-latency-all af-latency-100ms af-sigint-exit-0 af-filter af-visible-own af-visible-redacted
af-oneway-takes-no-slot af-stream-waits-pipelined af-per-uid af-follow-is-connection af-global af-refusal-named af-root-follows af-root-status-fast af-root-got-rows
af-noread-closed af-noread-rss af-demoted-saw af-demoted-ended daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
IDS=""
for i in 1 2 3 4 5; do
        name=enrich-f$i-$$
        enrich_add_user "$name" || { fail setup-users "useradd $name"; exit 1; }
        IDS="$IDS $(id -u "$name"):$(id -g "$name")"
done
ADMINS=eu17adm-$$
ADMIN=enrich-f5-$$
enrich_add_group "$ADMINS" "$ADMIN" || { fail setup-group "groupadd $ADMINS"; exit 1; }
enrich_write_config <<CONF
max_ttl = 7200;
admin_group = "$ADMINS";
CONF
enrich_start_daemon || { fail af-daemon "enrichd did not start"; enrich_finish; }
py() { timeout 120 "$PY" "$HERE/audit_follow.py" "$@"; }
field() { "$PY" -c 'import json, sys; r = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$@" 2>/dev/null; }

# A round of 8 whose slowest took 100 ms or more is measured again (3
# rounds at most): a loaded machine can stall enrichctl or the daemon for
# that long once, while a follow that polled would miss 100 ms in every
# round (8 grants 137 ms apart land all over a poll's period).
for _ in 1 2 3; do
        LAT=$(py latency "$SOCK" "$ENRICHCTL" "$JWKS" "$U1" 8)
        echo "# latency: $LAT"
        [ "$(field "$LAT" 'r["maxMs"] is not None and r["maxMs"] >= 100 and r["got"] == 8')" = True ] || break
done
check_eq af-latency-all True "$(field "$LAT" 'r["got"] == 8')"
check_eq af-latency-100ms True "$(field "$LAT" 'r["maxMs"] is not None and r["maxMs"] < 100')"
check_eq af-sigint-exit-0 True "$(field "$LAT" 'r["exit"] == 0 and r["stderr"] == ""')"

FIL=$(py filter "$SOCK" "$U1")
echo "# filter: $FIL"
check_eq af-filter True "$(field "$FIL" 'r["actions"] == ["grant.created"]')"

VIS=$(py visible "$SOCK" "$U1_UID:$(id -g "$U1")" "$U1" "$U2")
echo "# visible: $VIS"
check_eq af-visible-own True "$(field "$VIS" 'r["users"] == [sys.argv[3]]' "$U1")"
check_eq af-visible-redacted True "$(field "$VIS" 'r["n"] >= 1 and not r["actor"]')"

STRAY=$(py stray "$SOCK" "$(id -u "$U2"):$(id -g "$U2")")
echo "# stray: $STRAY"
check_eq af-oneway-takes-no-slot True "$(field "$STRAY" 'r["first"] == "open"')"
check_eq af-stream-waits-pipelined True "$(field "$STRAY" 'not r["statusDuringFollow"]')"

BND=$(py bounds "$SOCK" "$U1" "$U1_UID:$(id -g "$U1")" "$(id -u "$U2"):$(id -g "$U2")" $IDS)
echo "# bounds: $BND"
check_eq af-per-uid True "$(field "$BND" 'all(h["opened"] == 4 for h in r["holders"][:6])')"
check_eq af-follow-is-connection True "$(field "$BND" 'all(h["opened"] + h["plain"] == 32 for h in r["holders"]) and r["holders"][0]["opened"] == 4')"
check_eq af-global True "$(field "$BND" 'sum(h["opened"] for h in r["holders"]) == 24 and r["holders"][6]["opened"] == 0')"
check_eq af-refusal-named True "$(field "$BND" 'all(h["refusal"] == "io.enrich.TooManyFollows" for h in r["holders"])')"
check_eq af-root-follows True "$(field "$BND" 'r["root"]')"
check_eq af-root-status-fast True "$(field "$BND" 'r["root"] and r["statusMaxMs"] < 100')"
check_eq af-root-got-rows True "$(field "$BND" 'r["rootGot"] >= 300')"

GRANTEES=$U2
for i in 1 2 3 4 5; do GRANTEES=$GRANTEES,enrich-f$i-$$; done
NR=$(py noread "$SOCK" "$GRANTEES" "$DAEMON_PID" 4000)
echo "# noread: $NR"
check_eq af-noread-closed True "$(field "$NR" 'r["closed"]')"
# Under ASan freed memory sits in its quarantine (256 MiB), so RSS says
# nothing there; the closed connection above still holds.
if readelf -d "$B/enrichd" 2>/dev/null | grep -q libasan; then
        skip af-noread-rss "RSS is not the daemon's memory under ASan (its quarantine keeps what is freed)"
else
        check_eq af-noread-rss True "$(field "$NR" 'r["rssAfterKb"] - r["rssBeforeKb"] < 3072')"
fi
grep -q "does not read the replies of its open call" "$TMP/enrichd.log" || show "$TMP/enrichd.log"

DEM=$(py demote "$SOCK" "$(id -u "$ADMIN"):$(id -g "$ADMIN")" "$ADMIN" "$ADMINS" "$U1")
echo "# demoted: $DEM"
check_eq af-demoted-saw True "$(field "$DEM" '"eu17 while admin" in r["reasons"]')"
check_eq af-demoted-ended True "$(field "$DEM" 'r["error"] == "io.enrich.PermissionDenied" and "eu17 after demotion" not in r["reasons"]')"

enrich_finish
