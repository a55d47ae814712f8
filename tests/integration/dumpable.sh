[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# dumpable.sh: enrichd never leaves its signing key in a core dump.
# - enrichd makes itself non-dumpable at start: run as an unprivileged
#   user (as the packaged unit runs it, as "enrich"), its /proc/PID files
#   belong to root, which the kernel does only for a process that is not
#   dumpable (a control process of the same user shows the difference);
# - the unit sets LimitCORE=0.
. "$(dirname "$0")/lib.sh"

CHECKS="dumpable-control-owned-by-user dumpable-daemon-started dumpable-daemon-not-dumpable
dumpable-unit-limitcore"
enrich_require $CHECKS
enrich_setup
DIR=$TMP/u1
mkdir -p "$DIR/state" && chmod 0700 "$DIR/state" && chown -R "$U1" "$DIR"
cat >"$DIR/enrichd.conf" <<EOF
socket = "$DIR/io.enrich";
userdb_socket = "$DIR/io.enrich.Groups";
jwks = "$DIR/jwks.json";
state_dir = "$DIR/state";
issuer = "enrichd@dumpable-test";
EOF
chmod 0644 "$DIR/enrichd.conf"

# The control: an ordinary process of U1 is dumpable, its files are U1's.
# (setpriv, not as_user: a function in the background would be a subshell
# of ours, root's, with the command as its child; $! must be the process
# that becomes the command.)
setpriv --reuid="$U1" --regid="$(id -g "$U1")" --init-groups -- sleep 30 &
CONTROL=$!
CLEANUP_PIDS="$CLEANUP_PIDS $CONTROL"
control_owner() { [ "$(stat -c %U /proc/$CONTROL/environ 2>/dev/null)" = "$U1" ]; }
poll 20 control_owner
check_eq dumpable-control-owned-by-user "$U1" "$(stat -c %U /proc/$CONTROL/environ 2>/dev/null)"
kill "$CONTROL" 2>/dev/null

setpriv --reuid="$U1" --regid="$(id -g "$U1")" --init-groups -- \
        "$ENRICHD" --config "$DIR/enrichd.conf" --foreground >"$TMP/u1.log" 2>&1 &
U1_DAEMON=$!
CLEANUP_PIDS="$CLEANUP_PIDS $U1_DAEMON"
started() {
        [ -S "$DIR/io.enrich" ] && [ -s "$DIR/jwks.json" ] && kill -0 "$U1_DAEMON" 2>/dev/null &&
                [ "$(awk '/^Uid:/ { print $2 }' /proc/"$U1_DAEMON"/status)" = "$U1_UID" ]
}
check dumpable-daemon-started poll 50 started || show "$TMP/u1.log"
owner() { stat -c %U "/proc/$U1_DAEMON/environ" 2>/dev/null; }
echo "# enrichd as $U1: /proc/$U1_DAEMON/environ owned by $(owner)"
check_eq dumpable-daemon-not-dumpable root "$(owner)"
kill "$U1_DAEMON" 2>/dev/null

check dumpable-unit-limitcore grep -qx 'LimitCORE=0' systemd/enrichd.service
enrich_finish
