[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# refresh.sh: the daemon keeps live sessions true. With claims_ttl = 5 s, an
# open session's key is re-issued in place (same serial, new token) before
# it expires, for several periods, and still verifies inside the session;
# a session whose process died has its key revoked; `enrichctl refresh
# --user` applies a Unix group change to a live key at once.
. "$(dirname "$0")/lib.sh"

CHECKS="refresh-reissues-in-place refresh-exp-moves-forward refresh-key-never-lapses
refresh-session-verifies-after-3-periods refresh-timeout-follows-token
dead-session-key-revoked dead-session-row-closed
refresh-command-output refresh-group-removal-strips-claim refresh-group-removal-keeps-serial
daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
TGROUP=enrich-tgrp-$$
if ! enrich_add_group "$TGROUP" "$U1"; then
        fail "setup-group" "groupadd failed"
        exit 1
fi
# 5 s, not less: exp is a whole second, so a token may live a second less
# than claims_ttl; the module must attach its key before then, and each
# refresh, due at two thirds of the life, must come before the end. With
# 3 s that left the refresh under a second (a 250 ms tick included) and
# the attach about 2 s, which the ASan build on a loaded machine can miss
# (audit.sh went from 3 to 6 for the same reason).
TTL=5
enrich_write_config <<EOF
claims_ttl = $TTL;
max_ttl = 3600;
rules = (
  { name = "base";
    match = { services = ["enrich-test"]; };
    grant = { scopes = ["base:read"]; };
  },
  { name = "team";
    match = { unix_groups = ["$TGROUP"]; };
    grant = { scopes = ["team:write"]; };
  }
);
EOF
if ! enrich_start_daemon; then
        fail "daemon-starts" "enrichd did not start"
        exit 1
fi

# --- a session held open for three and a half claims_ttl periods
OPENED=$(date +%s)
session_open s1 "$U1"
S1=$(session_serial s1)
: >"$TMP/observed"
LAPSED=0
while [ $(($(date +%s) - OPENED)) -lt $((TTL * 7 / 2)) ]; do
        if key=$(key_claims "$S1"); then
                echo "$key" >>"$TMP/observed"
        else
                LAPSED=1
                echo "# key $S1 unreadable at $(date +%s): $(keyctl describe "$S1" 2>&1)"
                break
        fi
        sleep 0.25
done
# jti and exp of every token seen through the one serial.
TOKENS=$("$PY" -c 'import json, sys
seen = []
for line in open(sys.argv[1]):
    c = json.loads(line)
    if (c["jti"], c["exp"]) not in seen:
        seen.append((c["jti"], c["exp"]))
print(" ".join("%s:%d" % t for t in seen))' "$TMP/observed" 2>/dev/null)
N_TOKENS=$(echo "$TOKENS" | wc -w)
enough() { [ "$N_TOKENS" -ge 4 ]; }
check refresh-reissues-in-place enough || echo "# tokens seen through serial $S1: $TOKENS"
forward() { "$PY" -c 'import sys
exps = [int(t.rsplit(":", 1)[1]) for t in sys.argv[1:]]
sys.exit(0 if len(exps) >= 2 and all(a < b for a, b in zip(exps, exps[1:])) else 1)' $TOKENS; }
check refresh-exp-moves-forward forward || echo "# tokens: $TOKENS"
check_eq refresh-key-never-lapses 0 "$LAPSED"
verifies() {
        [ $(($(date +%s) - OPENED)) -ge $((TTL * 3)) ] && session_whoami s1 &&
                "$PY" "$HERE/check_claims.py" --sub "$U1" --scope base:read <"$TMP/s1/whoami.json" | sed 's/^/# /'
        return "${PIPESTATUS[0]}"
}
check refresh-session-verifies-after-3-periods verifies || show "$TMP/s1/whoami.err"
# The kernel timeout moves with each new token: /proc/keys shows at most
# claims_ttl seconds left, never an expiry set at the first issue.
timeout_follows() {
        local left
        left=$(grep "^$(printf %08x "$S1") " /proc/keys | awk '{ print $4 }')
        case $left in [0-$TTL]s) return 0 ;; *) echo "# /proc/keys timeout '$left'"; return 1 ;; esac
}
check refresh-timeout-follows-token timeout_follows

# --- a forced refresh applies a Unix group change at once
has_scope "$S1" team:write || echo "# team:write missing before the group change: $(key_claims "$S1")"
gpasswd -d "$U1" "$TGROUP" >/dev/null
ctl refresh --user "$U1" >"$TMP/refresh.out" 2>&1
RC=$?
refresh_output() { [ "$RC" = 0 ] && grep -Eq "refreshed the sessions of $U1: [1-9][0-9]* live session\(s\) re-issued" "$TMP/refresh.out"; }
check refresh-command-output refresh_output || show "$TMP/refresh.out"
# Immediately, not at the next automatic refresh (within claims_ttl).
stripped() { lacks_scope "$S1" team:write && has_scope "$S1" base:read; }
check refresh-group-removal-strips-claim poll 3 stripped || echo "# key: $(key_claims "$S1")"
check refresh-group-removal-keeps-serial key_alive "$S1"
session_close s1

# --- a session whose process is gone: its key is revoked within ~2 s.
# Revoked, not expired: the kernel says which, so the poll may allow for a
# slow machine (4 s) without its timeout passing for the daemon's work.
session_open s2 "$U1"
S2=$(session_serial s2)
SID2=$(claim "$S2" sid | tr -d '"')
kill -9 "$s2_PID"
wait "$s2_PID" 2>/dev/null
KILLED=$(date +%s%N)
dead_revoked() { [ -n "$S2" ] && poll 40 key_dead "$S2" && keyctl describe "$S2" 2>&1 | grep -q revoked; }
check dead-session-key-revoked dead_revoked ||
        echo "# key $S2 $(($(date +%s%N) - KILLED))ns after the kill: $(keyctl describe "$S2" 2>&1)"
row_closed() { ! ctl --json sessions | grep -q "\"$SID2\""; }
check dead-session-row-closed poll 10 row_closed
: >"$TMP/s2/done"

enrich_finish
