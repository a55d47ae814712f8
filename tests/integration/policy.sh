[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# policy.sh: the policy language through real logins and through explain:
# users, services, rhosts (IPv4 and IPv6 CIDRs), ttys, amr and the not_users
# exclusion; hours and days in the configured time zone; a rule's ttl; the tenant conflict (no tenant, and the log says
# why); and `enrichctl explain` naming the rule or grant behind each claim
# and the reason each other rule did not apply.
. "$(dirname "$0")/lib.sh"

CHECKS="login-user-service-rule login-exclusion-not-users login-other-service-rule-skipped
login-rhost-v4-cidr login-rhost-v6-cidr-and-tty login-rule-ttl-shortens-token
login-hours-days-now login-hours-elsewhere-skipped login-other-day-skipped
tenant-conflict-no-tenant tenant-conflict-keeps-scopes tenant-conflict-logged
explain-names-matching-rule explain-names-source-of-each-claim explain-says-why-not
explain-shows-tenant-conflict explain-json-sources explain-json-rule-lines explain-amr
explain-names-grant explain-unknown-user daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
# hours and days are read in the configured zone, far from UTC (and from
# this host's zone) so that a rule computed in the wrong zone does not
# match: a window of now +-1 h today, one 2-3 h ahead, and tomorrow.
ZONE=Pacific/Auckland
[ -e "/usr/share/zoneinfo/$ZONE" ] || ZONE=UTC
hhmm() { printf '%02d:%02d' $(((($1 % 1440) + 1440) % 1440 / 60)) $(((($1 % 1440) + 1440) % 1440 % 60)); }
NOW_MIN=$((10#$(TZ=$ZONE date +%H) * 60 + 10#$(TZ=$ZONE date +%M)))
TODAY=$(TZ=$ZONE LC_ALL=C date +%a)
TOMORROW=$(TZ=$ZONE LC_ALL=C date -d tomorrow +%a)
enrich_write_config <<EOF
claims_ttl = 600;
max_ttl = 3600;
timezone = "$ZONE";
rules = (
  { name = "hours-now";
    match = { users = ["$U2"]; hours = "$(hhmm $((NOW_MIN - 60)))-$(hhmm $((NOW_MIN + 60)))";
              days = ["$TODAY"]; };
    grant = { scopes = ["hours:now"]; };
  },
  { name = "hours-later";
    match = { users = ["$U2"]; hours = "$(hhmm $((NOW_MIN + 120)))-$(hhmm $((NOW_MIN + 180)))";
              days = ["$TODAY"]; };
    grant = { scopes = ["hours:later"]; };
  },
  { name = "tomorrow";
    match = { users = ["$U2"]; days = ["$TOMORROW"]; };
    grant = { scopes = ["days:tomorrow"]; };
  },
  { name = "over-ssh";
    match = { services = ["sshd"]; };
    grant = { scopes = ["ssh:only"]; };
  },
  { name = "team-acme";
    match = { services = ["enrich-test"]; users = ["$U1"]; };
    grant = { scopes = ["team:read"]; tenant = "acme"; };
  },
  { name = "lab-globex";
    match = { users = ["$U1"]; rhosts = ["192.0.2.0/24"]; };
    grant = { scopes = ["lab:read"]; tenant = "globex"; };
  },
  { name = "everyone-else";
    match = { services = ["enrich-test"]; not_users = ["$U1"]; };
    grant = { scopes = ["others:read"]; };
  },
  { name = "v6-net";
    match = { rhosts = ["2001:db8::/32"]; ttys = ["tty7"]; };
    grant = { scopes = ["v6:read"]; };
  },
  { name = "short-lived";
    match = { users = ["$U2"]; };
    grant = { scopes = ["u2:x"]; ttl = 120; };
  },
  { name = "keys-only";
    match = { users = ["$U2"]; amr = ["pop"]; };
    grant = { scopes = ["keys:x"]; };
  }
);
EOF
if ! enrich_start_daemon; then
        fail "daemon-starts" "enrichd did not start"
        exit 1
fi

# login NAME USER [pam_session options]: one login, its verified claims in
# $TMP/NAME.json.
login() {
        local name=$1 user=$2; shift 2
        "$PAM_SESSION" --confdir "$PAMDIR" --service enrich-test --user "$user" "$@" \
                -- env ENRICH_JWKS="$JWKS" "$ENRICHCTL" --jwks "$JWKS" whoami --json \
                >"$TMP/$name.json" 2>"$TMP/$name.err"
}
# claims NAME PYTHON-EXPR: EXPR over c = the claims of login NAME.
claims() {
        [ "$("$PY" -c 'import json, sys
c = json.load(open(sys.argv[1])); s = (c.get("scope") or "").split()
print(bool(eval(sys.argv[2])))' "$TMP/$1.json" "$2" 2>/dev/null)" = True ] ||
                { echo "# $1: $(cat "$TMP/$1.json" "$TMP/$1.err" 2>/dev/null | tr '\n' ' ')"; return 1; }
}

login plain "$U1" --rhost 198.51.100.1
check login-user-service-rule claims plain '"team:read" in s and c.get("tenant") == "acme"'
check login-exclusion-not-users claims plain '"others:read" not in s'
check login-other-service-rule-skipped claims plain '"ssh:only" not in s and "lab:read" not in s'

login hours "$U2"
check login-hours-days-now claims hours '"hours:now" in s'
check login-hours-elsewhere-skipped claims hours '"hours:later" not in s'
check login-other-day-skipped claims hours '"days:tomorrow" not in s'

login lab "$U1" --rhost 192.0.2.7
check login-rhost-v4-cidr claims lab '"lab:read" in s'
check tenant-conflict-no-tenant claims lab '"tenant" not in c or c["tenant"] is None'
check tenant-conflict-keeps-scopes claims lab '"team:read" in s and "lab:read" in s'
conflict_logged() { grep -i conflict "$TMP/enrichd.log" | grep acme | grep -q globex; }
check tenant-conflict-logged conflict_logged || show "$TMP/enrichd.log"

login v6 "$U2" --rhost 2001:db8::5 --tty tty7
check login-rhost-v6-cidr-and-tty claims v6 '"v6:read" in s and "others:read" in s'
check login-rule-ttl-shortens-token claims v6 '"u2:x" in s and c["exp"] - c["iat"] <= 120'

# --- explain
ctl explain "$U1" --service enrich-test --rhost 192.0.2.7 >"$TMP/explain.txt" 2>&1
RC=$?
ex() { [ "$RC" = 0 ] && grep -Eq "$1" "$TMP/explain.txt"; }
check explain-names-matching-rule ex '^  match +team-acme ' || show "$TMP/explain.txt"
sources_ok() { ex 'team:read +from rule team-acme' && ex 'lab:read +from rule lab-globex'; }
check explain-names-source-of-each-claim sources_ok || show "$TMP/explain.txt"
why_not() { ex '^  no match +over-ssh .*sshd' && ex '^  no match +everyone-else .*'"$U1"; }
check explain-says-why-not why_not || show "$TMP/explain.txt"
conflict_shown() { ex '^Tenant conflict: .*acme' && ex '^Tenant conflict: .*globex'; }
check explain-shows-tenant-conflict conflict_shown || show "$TMP/explain.txt"

ctl --json explain "$U1" --service enrich-test --rhost 192.0.2.7 >"$TMP/explain.json" 2>&1
OVER_SSH_LINE=$(grep -n 'name = "over-ssh"' "$TMP/enrichd.conf" | cut -d: -f1)
json_ok() {
        "$PY" - "$TMP/explain.json" "$@" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
what = sys.argv[2]
if what == "sources":
    ok = {"claim": "scope", "value": "team:read", "rule": "team-acme"} in \
         [{k: s.get(k) for k in ("claim", "value", "rule")} for s in r["sources"]]
    ok = ok and r.get("tenant") is None and r.get("tenantConflict")
else:
    rule = [x for x in r["rules"] if x["name"] == "over-ssh"]
    ok = rule and not rule[0]["matched"] and rule[0]["line"] == int(sys.argv[3]) and rule[0].get("reason")
    ok = ok and [x["name"] for x in r["rules"] if x["matched"]] == ["team-acme", "lab-globex"]
sys.exit(0 if ok else 1)
EOF
}
check explain-json-sources json_ok sources || show "$TMP/explain.json"
check explain-json-rule-lines json_ok rules "$OVER_SSH_LINE" || show "$TMP/explain.json"

ctl explain "$U2" --service enrich-test --amr pop >"$TMP/explain-amr.txt" 2>&1
ctl explain "$U2" --service enrich-test --amr pwd >"$TMP/explain-pwd.txt" 2>&1
amr_ok() { grep -Eq '^  match +keys-only ' "$TMP/explain-amr.txt" && grep -Eq '^  no match +keys-only ' "$TMP/explain-pwd.txt"; }
check explain-amr amr_ok || { show "$TMP/explain-amr.txt"; show "$TMP/explain-pwd.txt"; }

GID=$(ctl grant "$U1" --scope jit:x --ttl 10m --reason "explain test" 2>/dev/null)
ctl explain "$U1" --service enrich-test >"$TMP/explain-grant.txt" 2>&1
grant_named() { [ -n "$GID" ] && grep -Eq "jit:x +from grant $GID" "$TMP/explain-grant.txt" &&
        grep -A3 '^Active grants' "$TMP/explain-grant.txt" | grep -q "$GID"; }
check explain-names-grant grant_named || show "$TMP/explain-grant.txt"
ctl explain no-such-user-$$ --service enrich-test >"$TMP/explain-nouser.txt" 2>&1
RC=$?
nouser() { [ "$RC" = 1 ] && grep -qi 'no such user' "$TMP/explain-nouser.txt"; }
check explain-unknown-user nouser || show "$TMP/explain-nouser.txt"

enrich_finish
