[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# caps.sh: uids holding every connection enrichd lets them have never lock
# root (PAM logins, NSS lookups during a login) out of either socket:
# - 5 throwaway uids each open up to 128 connections to the main socket
#   and to the userdb socket and hold them; root's Status on the main
#   socket and root's GetMemberships on the userdb socket still answer,
#   10 of 10, each within 1 s;
# - the same with the daemon started under an open files limit of 256
#   (soft and hard), which it must fit its caps under instead of running
#   into EMFILE; its log says what it chose.
. "$(dirname "$0")/lib.sh"

CHECKS="caps-flood-held caps-root-status caps-root-userdb caps-userdb-per-uid
caps-lowfd-logged caps-lowfd-flood-held caps-lowfd-root-status caps-lowfd-root-userdb daemon-clean-shutdown
daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
IDS=""
for i in 1 2 3 4 5; do
        name=enrich-c$i-$$
        if ! enrich_add_user "$name"; then
                fail setup-users "useradd $name failed"
                exit 1
        fi
        IDS="$IDS $(id -u "$name"):$(id -g "$name")"
done

# run_caps TAG: holds, calls, and writes $TMP/TAG.json.
run_caps() {
        timeout 30 "$PY" "$HERE/caps.py" "$SOCK" "$TMP/io.enrich.Groups" 128 8 $IDS \
                >"$TMP/$1.json" 2>"$TMP/$1.err"
        echo "# $1: $(cat "$TMP/$1.json" 2>/dev/null)"
        show "$TMP/$1.err"
}
result() { "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$TMP/$1.json" "$2" 2>/dev/null; }

if ! enrich_start_daemon; then
        fail daemon-starts "enrichd did not start"
        exit 1
fi
run_caps flood
# The flood was one: every uid held connections on both sockets.
check_eq caps-flood-held True "$(result flood 'r["holders"] == 5 and r["held"]["main"] >= 5 * 16 and r["held"]["userdb"] >= 5 * 16')"
check_eq caps-root-status True "$(result flood 'r["root"]["main"]["answered"] == 10 and r["root"]["main"]["maxMs"] < 1000')"
check_eq caps-root-userdb True "$(result flood 'r["root"]["userdb"]["answered"] == 10 and r["root"]["userdb"]["maxMs"] < 1000')"
# An NSS client needs a connection per lookup in flight, not 128.
check_eq caps-userdb-per-uid True "$(result flood 'r["held"]["userdb"] <= 5 * 32')"
enrich_stop_daemon

# ---- under a low open files limit ------------------------------------------
cat >"$TMP/enrichd-lowfd" <<EOF
#!/bin/sh
ulimit -n 256 || exit 1
exec "$BUILD/enrichd" "\$@"
EOF
chmod 0755 "$TMP/enrichd-lowfd"
ENRICHD=$TMP/enrichd-lowfd
: >"$TMP/enrichd.log"
if ! enrich_start_daemon; then
        fail daemon-starts-lowfd "enrichd did not start with 256 open files"
        exit 1
fi
check caps-lowfd-logged grep -q "Open files limit 256: main socket" "$TMP/enrichd.log" || show "$TMP/enrichd.log"
run_caps lowfd
check_eq caps-lowfd-flood-held True "$(result lowfd 'r["holders"] == 5 and r["held"]["main"] >= 32 and r["held"]["userdb"] >= 32')"
check_eq caps-lowfd-root-status True "$(result lowfd 'r["root"]["main"]["answered"] == 10 and r["root"]["main"]["maxMs"] < 1000')"
check_eq caps-lowfd-root-userdb True "$(result lowfd 'r["root"]["userdb"]["answered"] == 10 and r["root"]["userdb"]["maxMs"] < 1000')"

enrich_finish
