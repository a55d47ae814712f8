[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# tokens.sh: service-account tokens end to end through the real module
# (pam_start_confdir, auth + account + session in one transaction), the real
# daemon and sqlite: a token logs in and limits the session's scopes with
# amr "tok"; wrong, foreign, expired and revoked tokens are refused; rotation
# keeps the old secret for its grace only; wrong secrets for a token id slow
# down and lock that id alone, for a while that grows with each further
# failure (unlock ends it early), and only for the source the wrong secrets
# came from (rhost, else ruser, else service): another user who knows the
# id locks himself out, not the token; malformed tokens and unknown ids lock
# nobody (unknown ids are delayed per source), so the user's own token still
# logs in; passwords are left to others (PAM_IGNORE); the secret appears in no file,
# log or output but the one that printed it; non-admins are refused.
. "$(dirname "$0")/lib.sh"

CHECKS="eu5-issue-prints-token-once eu5-token-login-succeeds eu5-token-session-amr-tok
eu5-token-session-scope-limited eu5-token-session-keeps-groups eu5-prompt-not-needed-with-authtok
eu5-list-shows-last-used eu5-list-json-has-no-secret eu5-wrong-secret-refused eu5-other-users-token-refused
eu5-expired-token-refused eu5-token-ends-session-claims eu5-revoked-token-refused eu5-revoke-revokes-token-session
eu5-password-is-ignored eu5-password-reaches-next-module eu5-rotate-new-secret-works
eu5-rotate-old-secret-in-grace eu5-rotate-old-secret-after-grace eu5-brute-force-slows
eu5-brute-force-locks eu5-locked-refuses-right-token lock-is-per-token-id lock-backs-off
eu5-locked-refuses-right-token-again eu5-unlock-lets-in lock-counts-again-after-success lock-expires-by-itself
eu5-retry-after-half-delay-checked eu5-retry-inside-half-delay-refused unknown-ids-delayed-per-source
source-lock-logged source-lock-spares-other-ruser source-lock-spares-other-rhost
source-lock-refuses-right-secret-from-locked-source source-lock-backs-off source-lock-aggregate-logged
source-lock-ends-by-itself source-lock-unlock-clears source-lock-rhost-attacker-locks-only-itself
hammered-token-still-logs-in unknown-ids-delayed-per-ruser eu5-failures-logged-with-message-id
eu5-secret-not-in-sqlite eu5-secret-not-in-daemon-log eu5-secret-not-in-pam-stderr eu5-secret-not-in-journal
eu5-token-form-daemon-down-refused eu5-nonadmin-token-issue-refused eu5-nonadmin-token-list-refused
eu5-nonadmin-token-revoke-refused eu5-nonadmin-token-rotate-refused eu5-nonadmin-token-unlock-refused
eu5-nonroot-authenticate-refused eu5-admin-group-may-issue daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
SVC=eu5-svc-$$
OTHER=eu5-oth-$$
BRUTE=eu5-bru-$$
ADM=eu5-adm-$$
HAMMERED=eu5-ham-$$
VICTIM=eu5-vic-$$
ADMIN_GROUP=eu5-admins-$$
for u in "$SVC" "$OTHER" "$BRUTE" "$ADM" "$HAMMERED" "$VICTIM"; do
        enrich_add_user "$u" || { fail setup-users "useradd $u"; exit 1; }
done
enrich_add_group "$ADMIN_GROUP" "$ADM" || { fail setup-group "groupadd"; exit 1; }
START_TIME=$(date '+%Y-%m-%d %H:%M:%S')
enrich_write_config <<EOF
claims_ttl = 600;
max_ttl = 3600;
admin_group = "$ADMIN_GROUP";
token_max_failures = 4;
token_lock_seconds = 8;
token_lock_max_seconds = 40;
rules = (
  { name = "svc";
    match = { services = ["eu5-svc", "eu5-pwd", "eu5-authtok"]; };
    grant = { groups = ["g-svc"]; scopes = ["s:read", "s:write", "s:admin"]; };
  }
);
EOF
# auth (prompting) + account + session, all through the module under test.
cat >"$PAMDIR/eu5-svc" <<EOF
auth     required $BUILD/pam_enrich.so socket=$SOCK prompt
account  required $BUILD/pam_enrich.so socket=$SOCK
session  required pam_permit.so
session  required $BUILD/pam_enrich.so socket=$SOCK
EOF
# Passwords go on to the next module: here pam_permit stands in for pam_unix.
cat >"$PAMDIR/eu5-pwd" <<EOF
auth     [success=done ignore=ignore default=die] $BUILD/pam_enrich.so socket=$SOCK prompt
auth     required pam_permit.so
account  required $BUILD/pam_enrich.so socket=$SOCK
session  required pam_permit.so
session  required $BUILD/pam_enrich.so socket=$SOCK
EOF
# Without prompt: the module reads PAM_AUTHTOK that pam_unix (try first)
# collected; pam_unix fails (the test users have no password), so optional.
cat >"$PAMDIR/eu5-authtok" <<EOF
auth     optional pam_unix.so
auth     required $BUILD/pam_enrich.so socket=$SOCK
account  required $BUILD/pam_enrich.so socket=$SOCK
session  required pam_permit.so
session  required $BUILD/pam_enrich.so socket=$SOCK
EOF
cat >"$PAMDIR/eu5-down" <<EOF
auth     required $BUILD/pam_enrich.so socket=$TMP/nothing-here prompt
account  required pam_permit.so
session  required pam_permit.so
EOF
if ! enrich_start_daemon; then
        fail daemon-starts "enrichd did not start"
        exit 1
fi

# login NAME USER SECRET [SERVICE]: auth + account + session with SECRET
# answering the prompt; the session's claims token lands in $TMP/NAME.jwt.
login() {
        local name=$1 user=$2 secret=$3 service=${4:-eu5-svc}
        EU5_SECRET=$secret "$PAM_SESSION" --confdir "$PAMDIR" --service "$service" --user "$user" \
                --authenticate --password-from-env EU5_SECRET --acct-mgmt \
                -- sh -c 'k=$(keyctl search @s user enrich:claims 2>/dev/null) && keyctl pipe "$k"' \
                >"$TMP/$name.jwt" 2>"$TMP/$name.err"
        echo $? >"$TMP/$name.rc"
        return "$(cat "$TMP/$name.rc")"
}
# auth_only NAME USER SECRET [SERVICE]: pam_authenticate alone.
auth_only() {
        local name=$1 user=$2 secret=$3 service=${4:-eu5-svc}
        EU5_SECRET=$secret "$PAM_SESSION" --confdir "$PAMDIR" --service "$service" --user "$user" \
                --authenticate --password-from-env EU5_SECRET --no-session >/dev/null 2>"$TMP/$name.err"
}
refused() { ! auth_only "$@" && grep -q 'pam_authenticate: Authentication failure' "$TMP/$1.err"; }
# Every secret made here, for the grep at the end (the secret is what
# follows "enr_" and the 16-digit id and "_"; it may contain "_" itself).
SECRETS_FILE=$TMP/secrets
remember() { echo "${1:21}" >>"$SECRETS_FILE"; }
issue() {       # issue USER ARGS...: prints the token, remembers its secret
        local t
        t=$(ctl token issue "$@" 2>>"$TMP/issue.err") || return 1
        remember "$t"
        echo "$t"
}
token_id() { local t=${1#enr_}; echo "${t%%_*}"; }

# --- a token logs in, with amr tok and the token's scope limit
TOKEN=$(issue "$SVC" --ttl 1h --scope s:read --scope other:x --description "eu5 ci job")
check eu5-issue-prints-token-once \
        eval '[[ "$TOKEN" =~ ^enr_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$ ]]' || show "$TMP/issue.err"
TID=$(token_id "$TOKEN")
login ok "$SVC" "$TOKEN"
check eu5-token-login-succeeds test "$(cat "$TMP/ok.rc")" = 0 || { show "$TMP/ok.err"; show "$TMP/enrichd.log"; }
check eu5-token-session-amr-tok jwt_claim ok 'c["amr"] == ["tok"]'
check eu5-token-session-scope-limited jwt_claim ok 'c["scope"] == "s:read"'
check eu5-token-session-keeps-groups jwt_claim ok 'c["groups"] == ["g-svc"]'
login authtok "$SVC" "$TOKEN" eu5-authtok
check eu5-prompt-not-needed-with-authtok jwt_claim authtok 'c["amr"] == ["tok"] and c["scope"] == "s:read"' ||
        show "$TMP/authtok.err"

ctl token list --user "$SVC" >"$TMP/list.out" 2>&1
ctl --json token list >"$TMP/list.json" 2>&1
list_used() { grep -q "$TID" "$TMP/list.out" && ! grep "$TID" "$TMP/list.out" | grep -q never &&
        "$PY" -c 'import json,sys; t=[t for t in json.load(open(sys.argv[1]))["tokens"] if t["id"]==sys.argv[2]][0]; sys.exit(0 if t.get("lastUsed") and t["scopes"]==["s:read","other:x"] and t["description"]=="eu5 ci job" else 1)' "$TMP/list.json" "$TID"; }
check eu5-list-shows-last-used list_used || show "$TMP/list.out"
no_secret_in_list() { ! grep -q -- "${TOKEN:21}" "$TMP/list.out" "$TMP/list.json" && ! grep -qi secret "$TMP/list.json"; }
check eu5-list-json-has-no-secret no_secret_in_list

# --- refused: wrong secret, someone else's token, expired, revoked
WRONG="enr_${TID}_$(printf 'A%.0s' $(seq 43))"
check eu5-wrong-secret-refused refused wrong "$SVC" "$WRONG" || show "$TMP/wrong.err"
ctl token unlock "$SVC" >/dev/null
OTHER_TOKEN=$(issue "$OTHER" --ttl 1h --scope s:read)
check eu5-other-users-token-refused refused foreign "$SVC" "$OTHER_TOKEN" || show "$TMP/foreign.err"
ctl token unlock "$SVC" >/dev/null
SHORT=$(issue "$SVC" --ttl 1 --scope s:read)
sleep 2
check eu5-expired-token-refused refused expired "$SVC" "$SHORT" || show "$TMP/expired.err"
ctl token unlock "$SVC" >/dev/null
# A token session's claims never outlive the token (claims_ttl is 600 s).
BRIEF=$(issue "$SVC" --ttl 20 --scope s:read)
login brief "$SVC" "$BRIEF"
BRIEF_END=$(ctl --json token list --user "$SVC" | "$PY" -c 'import json, sys
print([t for t in json.load(sys.stdin)["tokens"] if t["id"] == sys.argv[1]][0]["expires"])' "$(token_id "$BRIEF")" 2>/dev/null)
check eu5-token-ends-session-claims jwt_claim brief "c['iat'] < c['exp'] <= ${BRIEF_END:-0}" ||
        { echo "# token ends ${BRIEF_END:-?}"; show "$TMP/brief.err"; }
DOOMED=$(issue "$SVC" --ttl 1h --scope s:write)
session_with_token() {  # a long session opened with DOOMED, for revocation
        mkdir -p "$TMP/doomed" && chmod 0777 "$TMP/doomed"
        EU5_SECRET=$DOOMED "$PAM_SESSION" --confdir "$PAMDIR" --service eu5-svc --user "$SVC" \
                --authenticate --password-from-env EU5_SECRET --serial-file "$TMP/doomed/serial" \
                -- sh -c 'while [ ! -e '"$TMP"'/doomed/done ]; do sleep 0.1; done' 2>"$TMP/doomed.err" &
        CLEANUP_PIDS="$CLEANUP_PIDS $!"
        DOOMED_PID=$!
        poll 50 test -s "$TMP/doomed/serial"
}
session_with_token
DOOMED_SERIAL=$(cat "$TMP/doomed/serial" 2>/dev/null)
ctl token revoke "$(token_id "$DOOMED")" >"$TMP/revoke.out" 2>&1
check eu5-revoked-token-refused refused revoked "$SVC" "$DOOMED" || show "$TMP/revoked.err"
check eu5-revoke-revokes-token-session key_dead "$DOOMED_SERIAL" || show "$TMP/revoke.out"
: >"$TMP/doomed/done"; wait "$DOOMED_PID" 2>/dev/null
ctl token unlock "$SVC" >/dev/null

# --- passwords are not ours: PAM_IGNORE (a stack of only us then fails
# with PAM's "no module decided" PAM_PERM_DENIED, not our PAM_AUTH_ERR)
auth_only pwd "$SVC" "correct horse battery staple"
check eu5-password-is-ignored grep -q 'pam_authenticate: Permission denied' "$TMP/pwd.err" || show "$TMP/pwd.err"
login pwd2 "$SVC" "correct horse battery staple" eu5-pwd
check eu5-password-reaches-next-module jwt_claim pwd2 '"tok" not in c["amr"] and c["scope"] == "s:read s:write s:admin"' ||
        show "$TMP/pwd2.err"

# --- rotation with grace. The grace ends at a whole second, so it is
# more than 5 s of the 6 asked; the two logins inside it (ASan, loaded
# machine: up to a second or two) fit with room. After it, wait for its
# end measured from when rotate returned, not for a fixed sleep.
ROT=$(issue "$SVC" --ttl 1h --scope s:read)
NEW=$(ctl token rotate "$(token_id "$ROT")" --grace 6s 2>>"$TMP/issue.err")
ROTATED_MS=$(date +%s%3N)
remember "$NEW"
check eu5-rotate-new-secret-works auth_only rot-new "$SVC" "$NEW" || show "$TMP/rot-new.err"
check eu5-rotate-old-secret-in-grace auth_only rot-old "$SVC" "$ROT" || show "$TMP/rot-old.err"
while [ "$(date +%s%3N)" -lt $((ROTATED_MS + 6200)) ]; do sleep 0.1; done
check eu5-rotate-old-secret-after-grace refused rot-late "$SVC" "$ROT"
ctl token unlock "$SVC" >/dev/null

# --- brute force: each wrong secret for a token id waits longer, then that
# id (and only that id) is locked, for token_lock_seconds. That is 8 s
# here: the attempt that locks is told to wait 2 s, which libpam stretches
# to as much as 3 s, and the checks of the lock come after that wait
# (with 3 s, an ASan run under load once saw the lock end first).
BT=$(issue "$BRUTE" --ttl 1h --scope s:read)
BT2=$(issue "$BRUTE" --ttl 1h --scope s:read)
BTID=$(token_id "$BT")
BAD="enr_${BTID}_$(printf 'B%.0s' $(seq 43))"
TIMES=""
for i in $(seq 12); do
        auth_only "brute$i" "$BRUTE" "$BAD"
        TIMES="$TIMES $(sed -n 's/^pam_authenticate: .* in \([0-9]*\) ms$/\1/p' "$TMP/brute$i.err")"
        grep -q "Token $BTID of $BRUTE locked for" "$TMP/enrichd.log" && break
done
echo "# failed attempts took (ms):$TIMES"
slows() { set -- $TIMES; [ $# -ge 3 ] && [ "$3" -gt "$1" ] && [ "${!#}" -gt 400 ]; }
check eu5-brute-force-slows slows
check eu5-brute-force-locks grep -q "Token $BTID of $BRUTE locked for 8 s after 4 wrong secrets" "$TMP/enrichd.log"
check eu5-locked-refuses-right-token refused locked "$BRUTE" "$BT"
check lock-is-per-token-id auth_only other-id "$BRUTE" "$BT2" || show "$TMP/other-id.err"
# Locks end by themselves: after 8 s the id is checked again. One more
# wrong secret locks it again, for twice as long (backoff).
sleep 8.2
auth_only relock "$BRUTE" "$BAD"
check lock-backs-off grep -q "Token $BTID of $BRUTE locked for 16 s after 5 wrong secrets" "$TMP/enrichd.log"
check eu5-locked-refuses-right-token-again refused locked2 "$BRUTE" "$BT"
ctl token unlock "$BRUTE" >"$TMP/unlock.out" 2>&1
check eu5-unlock-lets-in auth_only unlocked "$BRUTE" "$BT" || { show "$TMP/unlock.out"; show "$TMP/unlocked.err"; }
# After a success the count starts again: 4 wrong secrets, an 8 s lock,
# and the right secret works once it has passed, with no admin.
for i in 1 2 3 4; do auth_only "again$i" "$BRUTE" "$BAD"; done
check lock-counts-again-after-success refused locked3 "$BRUTE" "$BT"
sleep 8.2
check lock-expires-by-itself auth_only expired-lock "$BRUTE" "$BT" || show "$TMP/expired-lock.err"
# The retry window closes at half the delay: libpam waits between 0.5x and
# 1.5x of what pam_fail_delay asked, so an honest retry must never land in
# it. Straight Authenticate calls as root (the module's own), timed here,
# on a token id of its own: 60% of the first delay (250 ms) later the
# secret is checked again; at once after that second failure (delay
# 500 ms) it is not. "At once" must be inside that 250 ms window, which
# the reply to the second call, a new connection and the third call have
# to fit in: under ASan on a loaded machine they may not. The third
# answer proves something only when it came back within 240 ms of the
# second call's start (the daemon read both clocks in between); a slower
# round is measured again, after an unlock, up to 5 times.
WT=$(issue "$OTHER" --ttl 1h --scope s:read)
window() {
        "$PY" - "$SOCK" "$OTHER" "$(token_id "$WT")" <<'PY'
import json, socket, sys, time
path, user, tid = sys.argv[1:]
def auth():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(json.dumps({"method": "io.enrich.Authenticate", "parameters": {
        "user": user, "tokenId": tid, "verifier": "A" * 43, "service": "enrich-test"}}).encode() + b"\0")
    buf = b""
    while b"\0" not in buf:
        buf += s.recv(65536)
    s.close()
    return json.loads(buf.split(b"\0")[0]).get("parameters", {}).get("reason", "")
first = auth()
time.sleep(0.150)
start = time.monotonic()
second = auth()
third = auth()
ms = int((time.monotonic() - start) * 1000)
print(first, "|", second, "|", third, "|", ms, sep="")
PY
}
for i in 1 2 3 4 5; do
        W=$(window)
        echo "# retry window: $W"
        [ "$(echo "$W" | cut -d"|" -f3)" = "too soon after a failure" ] && break
        [ "$(echo "$W" | cut -d"|" -f4)" -ge 240 ] 2>/dev/null || break
        ctl token unlock "$OTHER" >/dev/null
done
check eu5-retry-after-half-delay-checked eval '[ "$(echo "$W" | cut -d"|" -f2)" = "wrong secret" ]'
check eu5-retry-inside-half-delay-refused eval '[ "$(echo "$W" | cut -d"|" -f3)" = "too soon after a failure" ]'
ctl token unlock "$OTHER" >/dev/null

# --- finding F5: token ids are not secret, so wrong secrets lock a token
# id only for the source they came from. $U2 runs su to $VICTIM (ruser
# $U2) with $VICTIM's token id and a wrong secret until that source is
# locked; $VICTIM's right token still logs in from another ruser and from
# a remote host, and those successes reset nothing for $U2's source, whose
# lock backs off, ends by itself, and is cleared by unlock. Then the same
# from a remote host: the attacker's rhost is locked, another is not.
# from NAME USER SECRET --ruser U | --rhost H: pam_authenticate from there.
from() {
        local name=$1 user=$2 secret=$3; shift 3
        EU5_SECRET=$secret "$PAM_SESSION" --confdir "$PAMDIR" --service eu5-svc --user "$user" "$@" \
                --authenticate --password-from-env EU5_SECRET --no-session >/dev/null 2>"$TMP/$name.err"
}
from_refused() { ! from "$@" && grep -q 'pam_authenticate: Authentication failure' "$TMP/$1.err"; }
VT=$(issue "$VICTIM" --ttl 1h --scope s:read)
VTID=$(token_id "$VT")
VBAD="enr_${VTID}_$(printf 'F%.0s' $(seq 43))"
for i in 1 2 3 4 5; do from "f5-$i" "$VICTIM" "$VBAD" --ruser "$U2"; done
check source-lock-logged grep -q "Token $VTID of $VICTIM locked for 8 s after 4 wrong secrets in a row from ruser:$U2" \
        "$TMP/enrichd.log" || grep "$VTID" "$TMP/enrichd.log" | tail -3 | sed 's/^/#   /'
check source-lock-spares-other-ruser from f5-u1 "$VICTIM" "$VT" --ruser "$U1" || show "$TMP/f5-u1.err"
check source-lock-spares-other-rhost from f5-rh "$VICTIM" "$VT" --rhost 198.51.100.20 || show "$TMP/f5-rh.err"
check source-lock-refuses-right-secret-from-locked-source from_refused f5-locked "$VICTIM" "$VT" --ruser "$U2"
sleep 8.2
from f5-again "$VICTIM" "$VBAD" --ruser "$U2"
check source-lock-backs-off eval 'grep -q "Token $VTID of $VICTIM locked for 16 s after 5 wrong secrets in a row from ruser:$U2" "$TMP/enrichd.log" &&
        from_refused f5-locked2 "$VICTIM" "$VT" --ruser "$U2"'
from f5-second "$VICTIM" "$VBAD" --rhost 203.0.113.50
check source-lock-aggregate-logged grep -q "token $VTID: 6 wrong secrets from 2 sources" "$TMP/enrichd.log"
sleep 16.2
check source-lock-ends-by-itself from f5-expired "$VICTIM" "$VT" --ruser "$U2" || show "$TMP/f5-expired.err"
for i in 1 2 3 4; do from "f5-re$i" "$VICTIM" "$VBAD" --ruser "$U2"; done
from_refused f5-relocked "$VICTIM" "$VT" --ruser "$U2"
RELOCKED=$?
ctl token unlock "$VICTIM" >"$TMP/f5-unlock.out" 2>&1
check source-lock-unlock-clears eval '[ $RELOCKED = 0 ] && from f5-unlocked "$VICTIM" "$VT" --ruser "$U2"' ||
        { show "$TMP/f5-unlock.out"; show "$TMP/f5-unlocked.err"; }
for i in 1 2 3 4; do from "f5-rh$i" "$VICTIM" "$VBAD" --rhost 203.0.113.66; done
check source-lock-rhost-attacker-locks-only-itself eval 'from_refused f5-rhl "$VICTIM" "$VT" --rhost 203.0.113.66 &&
        from f5-rho "$VICTIM" "$VT" --rhost 198.51.100.21' || { show "$TMP/f5-rhl.err"; show "$TMP/f5-rho.err"; }

# --- nobody is locked out by attempts that name no token: 10 malformed
# tokens (not in the token form: left to the stack, never sent) and 10
# unknown ids against $HAMMERED, then its own token still logs in. The
# unknown ids go straight to Authenticate, each after half the delay it
# was told (a patient attacker, whom a per-user count would have locked);
# their delay grows per source (rhost), while another rhost starts afresh.
HT=$(issue "$HAMMERED" --ttl 1h --scope s:read)
HTID=$(token_id "$HT")
for bad in "enr_" "enr_$HTID" "enr_${HTID}_short" "enr_${HTID}_$(printf '!%.0s' $(seq 43))" \
           "enr_$(echo "$HTID" | tr a-f A-F)_$(printf 'C%.0s' $(seq 43))" "enr_${HTID}__$(printf 'C%.0s' $(seq 43))" \
           "ENR_${HTID}_$(printf 'C%.0s' $(seq 43))" "enr_${HTID}_$(printf 'C%.0s' $(seq 44))" \
           "enr_${HTID:0:15}_$(printf 'C%.0s' $(seq 43))" "enr_${HTID}_$(printf 'C%.0s' $(seq 42))"; do
        auth_only malformed "$HAMMERED" "$bad"
done
"$PY" - "$SOCK" "$HAMMERED" >"$TMP/unknown.out" 2>&1 <<'PY'
import json, os, socket, sys, time
path, user = sys.argv[1:]
def auth(tid, rhost):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(json.dumps({"method": "io.enrich.Authenticate", "parameters": {
        "user": user, "tokenId": tid, "verifier": "D" * 43, "service": "sshd", "rhost": rhost}}).encode() + b"\0")
    buf = b""
    while b"\0" not in buf:
        buf += s.recv(65536)
    s.close()
    p = json.loads(buf.split(b"\0")[0]).get("parameters", {})
    return p.get("reason", ""), p.get("delayMs", 0), p.get("locked", False)
delays, reasons, locked = [], set(), False
for i in range(10):
    reason, delay, lock = auth(os.urandom(8).hex(), "203.0.113.7")
    delays.append(delay)
    reasons.add(reason)
    locked = locked or lock
    time.sleep(min(delay / 2000 + 0.05, 0.6))
fresh = auth(os.urandom(8).hex(), "198.51.100.9")[1]
print(" ".join(map(str, delays)), "|", ",".join(sorted(reasons)), "|", locked, "|", fresh)
PY
echo "# unknown ids (delays | reasons | locked | other rhost): $(cat "$TMP/unknown.out")"
unknown_delayed() {
        "$PY" -c 'import sys
d, reasons, locked, fresh = sys.stdin.read().split("|")
d = [int(x) for x in d.split()]
sys.exit(0 if len(d) == 10 and d[0] < d[2] < d[9] and int(fresh) < d[9] and reasons.strip() == "unknown token"
         and locked.strip() == "False" else 1)' <"$TMP/unknown.out"
}
check unknown-ids-delayed-per-source unknown_delayed
check hammered-token-still-logs-in login hammered "$HAMMERED" "$HT" || show "$TMP/hammered.err"
# Through the module without a remote host (su, sudo): the source is
# PAM_RUSER, and its second unknown id waits longer than its first.
for i in 1 2; do
        EU5_SECRET="enr_$(printf '%016x' "$i")_$(printf 'E%.0s' $(seq 43))" "$PAM_SESSION" --confdir "$PAMDIR" \
                --service eu5-svc --user "$HAMMERED" --ruser "$U1" --authenticate --password-from-env EU5_SECRET \
                --no-session >/dev/null 2>"$TMP/ruser$i.err"
done
check unknown-ids-delayed-per-ruser eval 'grep -q "failed: unknown token (nothing counted; source ruser:$U1 waits 250 ms)" "$TMP/enrichd.log" &&
        grep -q "failed: unknown token (nothing counted; source ruser:$U1 waits 500 ms)" "$TMP/enrichd.log"' ||
        { show "$TMP/ruser1.err"; show "$TMP/ruser2.err"; }
# The journal, when this daemon's entries reach one; its stderr copy else.
journal_works() { [ -n "$(journalctl -q MESSAGE_ID=13562a7abd4143d282916759a0aa9031 --since "$START_TIME" 2>/dev/null)" ]; }
failures_logged() {
        if journal_works; then
                journalctl -q MESSAGE_ID=d4b6f8a0c2e44d1a9b7c5e3f1a2b4c03 ENRICH_USER="$BRUTE" --since "$START_TIME" |
                        grep -q "wrong secret"
        else
                grep -q "Token authentication of $BRUTE .* failed: wrong secret.*ENRICH_REASON=wrong secret" "$TMP/enrichd.log"
        fi
}
check eu5-failures-logged-with-message-id failures_logged

# --- the daemon down: a token-form secret cannot be verified, so refused
check eu5-token-form-daemon-down-refused refused down "$SVC" "$TOKEN" eu5-down || show "$TMP/down.err"

# --- non-admins
ctl_as "$SVC" token issue "$SVC" --ttl 1h >"$TMP/na-issue" 2>&1
NA_RC=$?
check eu5-nonadmin-token-issue-refused eval '[ $NA_RC = 1 ] && ! grep -q enr_ "$TMP/na-issue" && grep -qi "permission denied" "$TMP/na-issue"'
check eu5-nonadmin-token-list-refused eval '! ctl_as "$SVC" token list >"$TMP/na-list" 2>&1 && grep -qi "permission denied" "$TMP/na-list"'
check eu5-nonadmin-token-revoke-refused eval '! ctl_as "$SVC" token revoke "$TID" >"$TMP/na-rev" 2>&1 && grep -qi "permission denied" "$TMP/na-rev"'
check eu5-nonadmin-token-rotate-refused eval '! ctl_as "$SVC" token rotate "$TID" >"$TMP/na-rot" 2>&1 && grep -qi "permission denied" "$TMP/na-rot"'
check eu5-nonadmin-token-unlock-refused eval '! ctl_as "$SVC" token unlock "$SVC" >"$TMP/na-unl" 2>&1 && grep -qi "permission denied" "$TMP/na-unl"'
check eu5-nonroot-authenticate-refused eval 'as_user "$ADM" "$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.Authenticate \
        "{\"user\":\"$SVC\",\"tokenId\":\"$TID\",\"verifier\":\"$(printf "A%.0s" $(seq 43))\"}" | grep -q PermissionDenied'
ADM_TOKEN=$(as_user "$ADM" "$ENRICHCTL" --socket "$SOCK" token issue "$SVC" --ttl 10m 2>"$TMP/adm.err")
remember "$ADM_TOKEN"
check eu5-admin-group-may-issue eval '[[ "$ADM_TOKEN" =~ ^enr_ ]]' || show "$TMP/adm.err"

# --- no secret anywhere it should not be
sleep 0.5
# in_files FILE...: true when any secret (fixed string) is in any FILE.
in_files() { grep -q -F -f "$SECRETS_FILE" -- "$@"; }
check eu5-secret-not-in-sqlite eval '[ "$(wc -l <"$SECRETS_FILE")" -ge 8 ] && [ -s "$TMP/state/enrich.db-wal" ] &&
        ! in_files "$TMP/state/"enrich.db*'
check eu5-secret-not-in-daemon-log eval '! in_files "$TMP/enrichd.log"'
check eu5-secret-not-in-pam-stderr eval '! in_files "$TMP"/*.err'
if journal_works; then
        journalctl -q --since "$START_TIME" >"$TMP/journal.txt" 2>/dev/null
        check eu5-secret-not-in-journal eval '! in_files "$TMP/journal.txt"'
else
        skip eu5-secret-not-in-journal "no journal here"
fi
enrich_finish
