[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# config.sh: `enrichd --check-config FILE` finds every kind of config error
# with file:line and exit 1, and passes a good file with exit 0; a running
# daemon refuses a broken config on SIGHUP and on `enrichctl reload`,
# keeping its policy; a good reload that removes a rule strips its claims
# from a live key within a second, in place.
. "$(dirname "$0")/lib.sh"

KINDS="unknown-key bad-cidr bad-hours unknown-day unknown-timezone duplicate-rule
group-without-gid gid-conflict-etc-group gid-out-of-range"
CHECKS="check-config-ok $(for k in $KINDS; do echo "check-config-$k"; done)
check-config-reports-every-error check-config-missing-file
sighup-bad-config-daemon-alive sighup-bad-config-logged sighup-bad-config-keeps-policy
sighup-bad-config-keeps-pv reload-bad-config-refused reload-removes-rule-within-1s
reload-adds-rule-claims reload-keeps-serial reload-changes-pv daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
HOSTGROUP=enrich-tgid-$$
if ! groupadd -g 61950 "$HOSTGROUP" 2>/dev/null; then
        HOSTGROUP=$(getent group 61950 | cut -d: -f1)
        [ -n "$HOSTGROUP" ] || { fail "setup-group" "cannot create a group with gid 61950"; exit 1; }
else
        CREATED_GROUPS="$CREATED_GROUPS $HOSTGROUP"
fi

# A valid config using every match key, the base of every broken variant.
good_body() {
        cat <<'EOF'
claims_ttl = 600;
max_ttl = 3600;
timezone = "Europe/Berlin";
groups = ( { name = "jit-deploy"; gid = 61917; } );
rules = (
  { name = "ops-over-ssh";
    match = { services = ["sshd"]; unix_groups = ["ops"]; users = ["alice"];
              not_users = ["mallory"]; not_unix_groups = ["contractors"];
              ttys = ["pts/1"]; rhosts = ["10.0.0.0/8", "2001:db8::/32", "bastion.example.com"];
              hours = "07:00-19:00"; days = ["Mon", "Tue", "Wed", "Thu", "Fri"];
              amr = ["pop"]; };
    grant = { groups = ["jit-deploy"]; scopes = ["logs:read"]; tenant = "acme"; ttl = 3600; };
  },
  { name = "backup-service";
    match = { users = ["svc-backup"]; services = ["enrich-service"]; };
    grant = { scopes = ["s3:backup:write"]; ttl = 900; };
  }
);
EOF
}
# variant NAME SED-EXPR: the good config edited by SED-EXPR into $TMP/NAME.conf.
variant() { good_body | sed "$2" | enrich_write_config "$TMP/$1.conf"; }

enrich_write_config "$TMP/good.conf" < <(good_body)
"$ENRICHD" --check-config "$TMP/good.conf" >"$TMP/good.out" 2>&1
check_eq check-config-ok 0 "$?" || show "$TMP/good.out"

variant unknown-key 's/^max_ttl = 3600;/max_ttl = 3600;\nmax_tll = 60;/'
variant bad-cidr 's|"10.0.0.0/8"|"10.0.0.0/33"|'
variant bad-hours 's|"07:00-19:00"|"07:00-25:00"|'
variant unknown-day 's|"Fri"\]|"Fry"]|'
variant unknown-timezone 's|Europe/Berlin|Mars/Olympus_Mons|'
variant duplicate-rule 's|name = "backup-service"|name = "ops-over-ssh"|'
variant group-without-gid 's|groups = ( { name = "jit-deploy"; gid = 61917; } );|groups = ( { name = "jit-deploy"; gid = 61917; },\n  { name = "no-gid"; } );|'
variant gid-conflict-etc-group 's|groups = ( { name = "jit-deploy"; gid = 61917; } );|groups = ( { name = "jit-deploy"; gid = 61917; },\n  { name = "clash"; gid = 61950; } );|'
variant gid-out-of-range 's|gid = 61917|gid = 70000|'
# The line each error is on, and a word its message must contain.
declare -A WHERE=( [unknown-key]='max_tll' [bad-cidr]='10.0.0.0/33' [bad-hours]='25:00'
        [unknown-day]='Fry' [unknown-timezone]='Mars/' [duplicate-rule]='name = "ops-over-ssh"'
        [group-without-gid]='no-gid' [gid-conflict-etc-group]='clash' [gid-out-of-range]='70000' )
declare -A WORD=( [unknown-key]='max_tll' [bad-cidr]='10.0.0.0/33' [bad-hours]='hour'
        [unknown-day]='Fry' [unknown-timezone]='Mars/Olympus_Mons' [duplicate-rule]='ops-over-ssh'
        [group-without-gid]='gid' [gid-conflict-etc-group]="61950|$HOSTGROUP" [gid-out-of-range]='70000' )
for k in $KINDS; do
        f=$TMP/$k.conf
        # A duplicate is reported at its second occurrence.
        line=$(grep -nF -- "${WHERE[$k]}" "$f" | tail -n1 | cut -d: -f1)
        "$ENRICHD" --check-config "$f" >"$TMP/$k.out" 2>&1
        rc=$?
        found() { [ "$rc" = 1 ] && grep -F "$f:$line" "$TMP/$k.out" | grep -Eqi -- "${WORD[$k]}"; }
        check "check-config-$k" found || { echo "# exit $rc, expected $f:$line mentioning ${WORD[$k]}"; show "$TMP/$k.out"; }
done
# Every error, not just the first.
good_body | sed -e 's|"10.0.0.0/8"|"10.0.0.0/33"|' -e 's|"Fri"\]|"Fry"]|' | enrich_write_config "$TMP/two.conf"
"$ENRICHD" --check-config "$TMP/two.conf" >"$TMP/two.out" 2>&1
RC=$?
both() {
        [ "$RC" = 1 ] && grep -q "$TMP/two.conf:$(grep -n 10.0.0.0/33 "$TMP/two.conf" | cut -d: -f1)" "$TMP/two.out" &&
                grep -q "$TMP/two.conf:$(grep -n Fry "$TMP/two.conf" | cut -d: -f1)" "$TMP/two.out"
}
check check-config-reports-every-error both || show "$TMP/two.out"
"$ENRICHD" --check-config "$TMP/no-such.conf" >"$TMP/missing.out" 2>&1
RC=$?
missing() { [ "$RC" = 1 ] && grep -q "no-such.conf" "$TMP/missing.out"; }
check check-config-missing-file missing || show "$TMP/missing.out"

# --- a running daemon and a broken config
enrich_write_config <<'EOF'
claims_ttl = 600;
max_ttl = 3600;
rules = (
  { name = "old-rule";
    match = { services = ["enrich-test"]; };
    grant = { scopes = ["old:scope"]; };
  },
  { name = "stays";
    match = { services = ["enrich-test"]; };
    grant = { scopes = ["base:read"]; };
  }
);
EOF
cp "$TMP/enrichd.conf" "$TMP/first.conf"
if ! enrich_start_daemon; then
        fail "daemon-starts" "enrichd did not start"
        exit 1
fi
session_open s1 "$U1"
S1=$(session_serial s1)
pv() { ctl status --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["policyVersion"])'; }
PV1=$(pv)

sed -i 's/^max_ttl = 3600;/max_ttl = 3600;\nbogus_setting = 1;/' "$TMP/enrichd.conf"
BAD_LINE=$(grep -n bogus_setting "$TMP/enrichd.conf" | cut -d: -f1)
kill -HUP "$DAEMON_PID"
logged() { grep -q "enrichd.conf:$BAD_LINE" "$TMP/enrichd.log"; }
poll 20 logged
check sighup-bad-config-daemon-alive kill -0 "$DAEMON_PID"
check sighup-bad-config-logged logged || show "$TMP/enrichd.log"
"$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$U1" \
        -- env ENRICH_JWKS="$JWKS" "$ENRICHCTL" --jwks "$JWKS" whoami --json >"$TMP/after-hup.json" 2>"$TMP/after-hup.err"
kept() { "$PY" "$HERE/check_claims.py" --scope old:scope --scope base:read <"$TMP/after-hup.json" | sed 's/^/# /'; return "${PIPESTATUS[0]}"; }
check sighup-bad-config-keeps-policy kept || show "$TMP/after-hup.err"
check_eq sighup-bad-config-keeps-pv "$PV1" "$(pv)"
ctl reload >"$TMP/reload-bad.out" 2>&1
RC=$?
reload_refused() { [ "$RC" = 1 ] && grep -q "enrichd.conf:$BAD_LINE" "$TMP/reload-bad.out"; }
check reload-bad-config-refused reload_refused || show "$TMP/reload-bad.out"

# --- a good reload that removes a rule and adds one
enrich_write_config <<'EOF'
claims_ttl = 600;
max_ttl = 3600;
rules = (
  { name = "stays";
    match = { services = ["enrich-test"]; };
    grant = { scopes = ["base:read"]; };
  },
  { name = "new-rule";
    match = { services = ["enrich-test"]; };
    grant = { scopes = ["new:scope"]; };
  }
);
EOF
START=$(date +%s%N)
ctl reload >"$TMP/reload.out" 2>&1
RC=$?
removed() { lacks_scope "$S1" old:scope; }
GONE_AT=$(poll_started 30 removed)
MS=$(((${GONE_AT:-$(date +%s%N)} - START) / 1000000))
within() { [ "$RC" = 0 ] && removed && [ "$MS" -le 1000 ]; }
check reload-removes-rule-within-1s within || { echo "# reload exit $RC, ${MS} ms; key: $(key_claims "$S1")"; show "$TMP/reload.out"; }
check reload-adds-rule-claims has_scope "$S1" new:scope
check reload-keeps-serial key_alive "$S1"
PV2=$(pv)
check_not reload-changes-pv test "$PV1" = "$PV2"
session_close s1

enrich_finish
