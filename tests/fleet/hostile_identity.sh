[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# hostile_identity.sh: an etcd writer without an issuer key may disable a
# user (that only removes access), but nothing else of its record is taken
# at its word: neither its "by" (it would name whom it likes as the actor)
# nor its reason, whose C1 controls (U+009B, CSI to xterm) and bidi
# overrides (U+202E) would reach an admin's terminal through `enrichctl
# audit` and the journal. A key naming a user with such characters is refused.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-hostile-setup fleet-hostile-unsigned-disable-applies fleet-hostile-no-controls-in-audit
fleet-hostile-by-not-taken fleet-hostile-control-name-refused"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_keys || exit 1
fleet_host b host-b '"web"'
check fleet-hostile-setup host_start b || exit 1

record() {
        $PY -c 'import json, sys, time
print(json.dumps({"user": sys.argv[1], "state": "disabled", "by": "security-team",
                  "reason": "\u009b31mpolicy\u202e nwod-ffo", "at": int(time.time())}))' "$1"
}
etcdctl put "/enrich-test/identities/$U2" "$(record "$U2")" >/dev/null
listed() { grep -qx "$1" "$TMP/b/disabled-identities" 2>/dev/null; }
check fleet-hostile-unsigned-disable-applies poll 30 listed "$U2" || show "$TMP/b/enrichd.log"
hctl b audit --user "$U2" >"$TMP/audit.out" 2>&1
hctl b audit --user "$U2" --json >>"$TMP/audit.out" 2>&1

no_controls() { grep -q "$U2" "$TMP/audit.out" && ! LC_ALL=C grep -q $'\xc2\x9b\|\xe2\x80\xae\|u009b\|u202e' "$TMP/audit.out"; }
check fleet-hostile-no-controls-in-audit no_controls || show "$TMP/audit.out"
check fleet-hostile-by-not-taken eval '! grep -q security-team "$TMP/audit.out" "$TMP/b/enrichd.log"' || show "$TMP/b/enrichd.log"

BAD=$(printf 'evil\xc2\x9b31m')
etcdctl put "/enrich-test/identities/$BAD" "$(record "$BAD")" >/dev/null
refused() { host_log_has b "Ignoring fleet record /enrich-test/identities/evil"; }
not_listed() { poll 30 refused && ! LC_ALL=C grep -q $'\xc2\x9b' "$TMP/b/disabled-identities"; }
check fleet-hostile-control-name-refused not_listed || show "$TMP/b/enrichd.log"
host_stop b
exit "$FAILED"
