[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# faults.sh: injected faults and what enrichd must do about them (issue 8):
#   - a bad signing key (garbage, wrong mode, mode 0000, missing next to an
#     existing database): a clear error, a non-zero exit, the file untouched,
#     never a new key in its place; a fresh state directory still gets one;
#   - a corrupt database (header, pages): a clear error, a non-zero exit, the
#     file byte for byte as it was;
#   - a full disk (the state directory on a tiny tmpfs): enrichment fails
#     with io.enrich.InternalError and a log line saying why, reads and
#     userdb go on, and nothing is half-written;
#   - SIGKILL while 200 logins open at once: every PAM call returns within
#     its timeout, and after a restart the database is intact, no grant is
#     lost, and the sessions whose processes died are ended, keys revoked.
# Clock steps are tested through an injected clock in tests/unit/test_clock.c.
. "$(dirname "$0")/lib.sh"

N_LOGINS=${EF8_LOGINS:-200}
N_GRANTS=50
CHECKS="key-garbage-refused key-garbage-untouched key-mode-refused key-mode-untouched
key-unreadable-refused key-unreadable-untouched key-missing-existing-db-refused
key-missing-existing-db-no-new-key key-missing-fresh-generated key-restored-starts
db-header-corrupt-refused db-header-corrupt-untouched db-pages-corrupt-refused
db-pages-corrupt-untouched
full-enrich-fails full-enrich-internal-error full-enrich-logged full-grant-fails full-reads-go-on
full-userdb-goes-on full-login-opens-without-claims full-integrity-ok full-counts-consistent
full-enrich-after-space-freed
kill-mid-load kill-pam-within-timeout kill-restart kill-integrity-ok kill-grants-kept
kill-keys-revoked kill-rows-ended daemon-clean-shutdown"
enrich_require $CHECKS
if ! command -v sqlite3 >/dev/null || ! command -v mount >/dev/null; then
        for n in $CHECKS; do skip "$n" "needs sqlite3 and mount"; done
        exit 0
fi
enrich_setup
FULL=$TMP/full
ef8_cleanup() {
        local p
        for p in $EF8_PIDS; do kill -9 "$p" 2>/dev/null; done
        if [ -n "$DAEMON_PID" ]; then
                kill -9 "$DAEMON_PID" 2>/dev/null
                wait "$DAEMON_PID" 2>/dev/null
        fi
        mountpoint -q "$FULL" 2>/dev/null && { umount "$FULL" 2>/dev/null || umount -l "$FULL"; }
        enrich_cleanup
}
trap ef8_cleanup EXIT
EF8_PIDS=""
STATE=$TMP/state
KEY=$STATE/signing-key.pem
DB=$STATE/enrich.db
GROUP=ef8-jit-$$
GID=61880   # served only on this test's own userdb socket
USERDB_SOCK=$TMP/io.enrich.ef8-$$
enrich_write_config <<EOF
claims_ttl = 600;
max_ttl = 3600;
groups = ( { name = "$GROUP"; gid = $GID; } );
rules = (
  { name = "ef8"; match = { services = ["enrich-test"]; }; grant = { scopes = ["s:read"]; }; }
);
EOF
sed -i "s|^userdb_socket = .*|userdb_socket = \"$USERDB_SOCK\";|" "$TMP/enrichd.conf"

vcall() { "$PY" "$HERE/varlink_call.py" "$@"; }
sum() { sha256sum "$1" | cut -d' ' -f1; }
# start_must_fail NAME PATTERN: enrichd exits non-zero within 10 s, its
# output says PATTERN, and (make asan) has no sanitizer report: the failed
# start cleans up too.
start_must_fail() {
        local out=$TMP/$1.log status
        timeout 10 "$ENRICHD" --config "$TMP/enrichd.conf" --foreground >"$out" 2>&1
        status=$?
        if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && grep -q -- "$2" "$out" &&
           ! grep -q 'Sanitizer\|runtime error' "$out"; then
                ok "$1"
                sed 's/^/#   /' "$out" | grep -i -- "$2" | head -n1
        else
                fail "$1" "exit status $status, expected a failure saying '$2'"
                show "$out"
        fi
}
# grant USER SCOPE REASON: a one-hour grant through io.enrich.Grant; true
# when stored. (Straight on the socket: these checks are about the daemon.)
grant() {
        vcall "$SOCK" io.enrich.Grant "{\"user\":\"$1\",\"scopes\":[\"$2\"],\"ttl\":3600,\"reason\":\"$3\"}" \
                >"$TMP/grant.out" && grep -q '"grant"' "$TMP/grant.out"
}
# the error name of a Varlink reply on stdin
error_of() { "$PY" -c 'import json, sys; print(json.load(sys.stdin).get("error", "none"))' 2>/dev/null; }

# ---- signing key ------------------------------------------------------
# A first start makes the key and the database; then each fault in turn.
if ! enrich_start_daemon; then
        fail "daemon-starts" "enrichd did not start"
        exit 1
fi
enrich_stop_daemon
cp -p "$KEY" "$TMP/key.good"

printf 'this is not a key\n' >"$KEY"
before=$(sum "$KEY")
start_must_fail key-garbage-refused "not a PEM Ed25519 private key"
check_eq key-garbage-untouched "$before" "$(sum "$KEY")"

cp -p "$TMP/key.good" "$KEY" && chmod 0644 "$KEY"
before=$(sum "$KEY")
start_must_fail key-mode-refused "with mode 0600 (found mode 0644"
check_eq key-mode-untouched "$before 644" "$(sum "$KEY") $(stat -c %a "$KEY")"

# Root reads a mode 0000 file anyway; enrichd refuses it by its mode, as
# the unprivileged daemon could not open it.
chmod 0000 "$KEY"
start_must_fail key-unreadable-refused "found mode 0000"
check_eq key-unreadable-untouched "$before 0" "$(sum "$KEY") $(stat -c %a "$KEY")"

rm -f "$KEY"
before=$(sum "$DB")
start_must_fail key-missing-existing-db-refused "is missing, but .* is not a fresh state directory"
check key-missing-existing-db-no-new-key test ! -e "$KEY" -a "$before" = "$(sum "$DB")"

mv "$STATE" "$TMP/state.kept" && mkdir -m 0700 "$STATE"
if enrich_start_daemon; then
        check_eq key-missing-fresh-generated "600" "$(stat -c %a "$KEY" 2>/dev/null)"
else
        fail key-missing-fresh-generated "enrichd did not start on a fresh state directory"
fi
enrich_stop_daemon
rm -rf "$STATE" && mv "$TMP/state.kept" "$STATE" && cp -p "$TMP/key.good" "$KEY"
if enrich_start_daemon; then ok key-restored-starts; else fail key-restored-starts; fi

# ---- corrupt database ---------------------------------------------------
# Some content first, so that the file has pages beyond the schema.
for i in $(seq 20); do
        grant "$U1" "db:$i" "ef8 pages $i"
done
enrich_stop_daemon
# Fold whatever the WAL holds into the file, so the damage below hits the
# pages sqlite will read.
sqlite3 -cmd ".timeout 5000" "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null && rm -f "$DB-wal" "$DB-shm"
cp -p "$DB" "$TMP/db.good"

printf 'garbage garbage!' | dd of="$DB" bs=1 seek=0 conv=notrunc status=none
before=$(sum "$DB")
start_must_fail db-header-corrupt-refused "is corrupt"
check_eq db-header-corrupt-untouched "$before" "$(sum "$DB")"
rm -f "$DB-wal" "$DB-shm"

cp -p "$TMP/db.good" "$DB"
pages=$(( $(stat -c %s "$DB") / 4096 ))
dd if=/dev/urandom of="$DB" bs=4096 seek=1 count=$((pages - 1)) conv=notrunc status=none
before=$(sum "$DB")
start_must_fail db-pages-corrupt-refused "is corrupt"
check_eq db-pages-corrupt-untouched "$before" "$(sum "$DB")"
rm -f "$DB-wal" "$DB-shm"
cp -p "$TMP/db.good" "$DB"

# ---- disk full ------------------------------------------------------------
mkdir -p "$FULL"
if ! mount -t tmpfs -o size=4m,mode=0700 ef8-full "$FULL"; then
        for n in $(echo "$CHECKS" | tr ' ' '\n' | grep '^full-'); do skip "$n" "cannot mount a tmpfs"; done
else
        mkdir -m 0700 "$FULL/state"
        cp -p "$STATE"/* "$FULL/state/"
        sed -i "s|^state_dir = .*|state_dir = \"$FULL/state\";|" "$TMP/enrichd.conf"
        enrich_start_daemon || fail full-daemon-starts
        enrich_call() {
                vcall "$SOCK" io.enrich.Enrich "{\"user\":\"$U1\",\"service\":\"enrich-test\",\"pid\":$$}"
        }
        enriched=0 granted=0
        enrich_call >/dev/null && enriched=$((enriched + 1))
        grant "$U1" full:0 "ef8 before full" && granted=$((granted + 1))
        dd if=/dev/zero of="$FULL/filler" bs=4k status=none 2>/dev/null
        # The WAL may still have room for a few writes: go on until one fails.
        failed_reply=""
        for i in $(seq 300); do
                reply=$(enrich_call)
                if [ "$(echo "$reply" | error_of)" = none ]; then
                        enriched=$((enriched + 1))
                else
                        failed_reply=$reply
                        break
                fi
        done
        check full-enrich-fails test -n "$failed_reply" || echo "# $enriched enrichments all succeeded"
        check full-enrich-internal-error "$PY" -c 'import json, sys
r = json.loads(sys.argv[1])
sys.exit(not (r["error"] == "io.enrich.InternalError" and "full" in r["parameters"]["reason"]))' \
                "$failed_reply" || echo "# reply: $failed_reply"
        # In the call, or when the turn's group commit fails (db.h).
        check full-enrich-logged grep -Eq "Database error in io.enrich.Enrich: .*full|Failed to commit the session and audit records of this turn: .*full" "$TMP/enrichd.log" ||
                show "$TMP/enrichd.log"
        if grant "$U1" full:1 "ef8 while full"; then
                granted=$((granted + 1))
                fail full-grant-fails "a grant was stored on a full disk"
        else
                check full-grant-fails grep -q 'InternalError.*full' "$TMP/grant.out" || show "$TMP/grant.out"
        fi
        reads_ok() {
                local m
                for m in io.enrich.Status io.enrich.ListSessions io.enrich.ListGrants; do
                        [ "$(vcall "$SOCK" "$m" | error_of)" = none ] || { echo "# $m failed"; return 1; }
                done
                ctl status >/dev/null && ctl sessions >/dev/null && ctl grants >/dev/null
        }
        check full-reads-go-on reads_ok
        check_eq full-userdb-goes-on none "$(vcall "$USERDB_SOCK" io.systemd.UserDatabase.GetGroupRecord \
                "{\"groupName\":\"$GROUP\",\"service\":\"io.enrich.ef8-$$\"}" | error_of)"
        "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" \
                -- sh -c 'keyctl search @s user enrich:claims' >"$TMP/full-login.out" 2>"$TMP/full-login.err"
        check full-login-opens-without-claims test $? = 1 -a ! -s "$TMP/full-login.out" ||
                show "$TMP/full-login.err"
        # Space back: the database is whole and holds exactly what was
        # acknowledged.
        rm -f "$FULL/filler"
        check_eq full-integrity-ok ok "$(sqlite3 -cmd ".timeout 5000" "file:$FULL/state/enrich.db?mode=ro" 'PRAGMA integrity_check' 2>&1)"
        counts=$(sqlite3 -cmd ".timeout 5000" "file:$FULL/state/enrich.db?mode=ro" \
                "SELECT (SELECT count(*) FROM sessions WHERE user = '$U1'),
                        (SELECT count(*) FROM grants WHERE user = '$U1' AND reason LIKE 'ef8 % full')" 2>&1)
        check_eq full-counts-consistent "$enriched|$granted" "$counts"
        check_eq full-enrich-after-space-freed none "$(enrich_call | error_of)"
        enrich_stop_daemon
        umount "$FULL" || umount -l "$FULL"
        sed -i "s|^state_dir = .*|state_dir = \"$STATE\";|" "$TMP/enrichd.conf"
fi

# ---- SIGKILL under load ---------------------------------------------------
rm -f "$DB-wal" "$DB-shm"
if ! enrich_start_daemon; then
        fail kill-daemon-starts "enrichd did not start"
        exit 1
fi
for i in $(seq "$N_GRANTS"); do
        grant "$U2" "keep:$i" "ef8 keep $i"
done
grants_before=$(sqlite3 -cmd ".timeout 5000" "file:$DB?mode=ro" "SELECT count(*) FROM grants WHERE revoked IS NULL AND user = '$U2'")
# Inside each login, as the user: the key's serial, our pid, then hold the
# session until released.
cat >"$TMP/hold.sh" <<'EOF'
cd "$1" || exit 1
echo $$ >pid
keyctl search @s user enrich:claims >serial 2>/dev/null
: >opened
i=0
while [ ! -e ../release ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
EOF
mkdir "$TMP/load" && chown "$U1" "$TMP/load"
# Every login waits for the starting gun, then all open at once.
pids=()
for i in $(seq "$N_LOGINS"); do
        mkdir "$TMP/load/$i" && chown "$U1" "$TMP/load/$i"
        sh -c 'while [ ! -e "$1" ]; do sleep 0.01; done; shift; exec "$@"' sh "$TMP/go" \
                "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" \
                -- sh "$TMP/hold.sh" "$TMP/load/$i" >"$TMP/load/$i.out" 2>"$TMP/load/$i.err" &
        pids+=($!)
        EF8_PIDS="$EF8_PIDS $!"
done
sleep 0.5
: >"$TMP/go"
# Kill once the first is in: the rest are starting, connecting or queued.
# (Not ten: the daemon admits concurrent logins quickly enough that ten
# sessions' fork and exec could take as long as serving all of them.)
for i in $(seq 1000); do
        [ "$(ls "$TMP"/load/*/opened 2>/dev/null | wc -l)" -ge 1 ] && break
        sleep 0.01
done
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=""
# Every login either runs its command (open returned) or has exited.
settled() {
        local i
        for i in $(seq "$N_LOGINS"); do
                [ -e "$TMP/load/$i/opened" ] || ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null || return 1
        done
}
poll 300 settled
with_key=0 without_key=0 slowest=0 over=0 missing=0
for i in $(seq "$N_LOGINS"); do
        ms=$(pam_ms "$TMP/load/$i.err")
        if [ -z "$ms" ]; then missing=$((missing + 1)); continue; fi
        [ "$ms" -gt "$slowest" ] && slowest=$ms
        # timeout=1500: the module's own deadline, plus scheduling slack on
        # a loaded 2-core machine: 1 s, as up to 200 logins (ASan builds in
        # make asan) share two cores when their deadlines pass (an idle
        # machine's ASan run already saw 1540 ms). A second wait of the
        # whole timeout (3000 ms) or a hang is still over.
        [ "$ms" -gt 2500 ] && over=$((over + 1))
        if [ -s "$TMP/load/$i/serial" ]; then with_key=$((with_key + 1)); else without_key=$((without_key + 1)); fi
done
echo "# $N_LOGINS logins: $with_key with claims, $without_key without; slowest pam_open_session $slowest ms"
check kill-mid-load test "$with_key" -gt 0 -a "$without_key" -gt 0
check_eq kill-pam-within-timeout "0 0" "$missing $over" || show "$TMP/load/1.err"
# The login processes die without closing their sessions; the commands
# inside live on and keep the session keyrings (and the keys) alive.
serials=$(cat "$TMP"/load/*/serial 2>/dev/null)
{
        for p in "${pids[@]}"; do kill -9 "$p"; done
        for p in "${pids[@]}"; do wait "$p"; done
} 2>/dev/null
for f in "$TMP"/load/*/pid; do EF8_PIDS="$EF8_PIDS $(cat "$f")"; done
alive_before=0
for s in $serials; do key_alive "$s" && alive_before=$((alive_before + 1)); done
echo "# $alive_before of $(echo "$serials" | grep -c .) keys alive before the restart"
if enrich_start_daemon; then ok kill-restart; else fail kill-restart; fi
# The restarted daemon may hold the lock for a moment (WAL recovery after
# the kill, its own start-up writes): wait for it as any reader would.
check_eq kill-integrity-ok ok "$(sqlite3 -cmd ".timeout 5000" "file:$DB?mode=ro" 'PRAGMA integrity_check' 2>&1)"
check_eq kill-grants-kept "$N_GRANTS $N_GRANTS" \
        "$grants_before $(sqlite3 -cmd ".timeout 5000" "file:$DB?mode=ro" "SELECT count(*) FROM grants WHERE revoked IS NULL AND user = '$U2'")"
all_revoked() {
        local s
        for s in $serials; do
                keyctl describe "$s" 2>&1 | grep -q "revoked" || return 1
        done
}
check kill-keys-revoked poll 50 all_revoked || for s in $serials; do keyctl describe "$s" 2>&1; done | head -n 3
check_eq kill-rows-ended "0" "$(sqlite3 -cmd ".timeout 5000" "file:$DB?mode=ro" "SELECT count(*) FROM sessions WHERE ended IS NULL AND user = '$U1'")"
: >"$TMP/load/release"
enrich_finish
