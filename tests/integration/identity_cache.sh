[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# identity_cache.sh: the daemon's passwd cache (daemon/passwd_cache.h) never
# answers otherwise than NSS would. With /etc/passwd settled (so the cache
# holds it), each account change is seen by the very next Enrich, made
# right away (the file's times too new to trust: NSS answers) or 0.3 s
# later (the cache must see the file changed), and by the next once the
# file is old enough for the cache to hold it again: a user
# removed (NoSuchUser), added back with another uid, renumbered with
# usermod -u, added to a group with usermod -aG (a unix_groups rule then
# grants its scope) and gpasswd -d. With other sources in
# nsswitch.conf's passwd line (sss, ldap, winbind, an [action]) the cache is
# off (the daemon says so), and on with "files systemd". The machine's own
# nsswitch.conf is never touched: the daemon is pointed at a copy
# (ENRICH_TEST_NSSWITCH).
. "$(dirname "$0")/lib.sh"

CHECKS="idc-cache-on idc-first-enrich-uid idc-userdel-seen idc-userdel-seen-settled idc-useradd-seen idc-useradd-seen-settled
idc-usermod-uid-seen idc-usermod-uid-seen-settled
idc-usermod-group-seen idc-group-removal-seen idc-off-with-sss idc-off-with-ldap
idc-off-with-winbind idc-off-with-action idc-on-with-files-systemd idc-off-still-answers
daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup
X=eu9-idc-$$
G=eu9-idcg-$$
enrich_add_user "$X" || { fail setup-users useradd; exit 1; }
enrich_add_group "$G" || { fail setup-group groupadd; exit 1; }
enrich_write_config <<EOF
claims_ttl = 600;
max_ttl = 3600;
rules = (
  { name = "all"; match = { services = ["enrich-test"]; }; grant = { scopes = ["s:read"]; }; },
  { name = "members"; match = { services = ["enrich-test"]; unix_groups = ["$G"]; };
    grant = { scopes = ["g:member"]; }; }
);
EOF
cp /etc/nsswitch.conf "$TMP/nsswitch.conf"
export ENRICH_TEST_NSSWITCH=$TMP/nsswitch.conf
printf 'passwd: files systemd\ngroup: files systemd\n' >"$TMP/nsswitch.conf"
enrich_start_daemon || exit 1

# enrich USER: the Enrich reply (as root, as the module calls it).
enrich() {
        "$PY" "$HERE/varlink_call.py" "$SOCK" io.enrich.Enrich \
                "{\"user\":\"$1\",\"service\":\"enrich-test\",\"pid\":$$,\"amr\":[\"pwd\"]}"
}
reply_uid() { "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("parameters",{}).get("uid",""))'; }
reply_error() { "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("error",""))'; }
token_scope() {
        "$PY" -c '
import base64, json, sys
t = json.load(sys.stdin)["parameters"]["token"].split(".")[1]
print(json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))["scope"])'
}
# Waits until /etc/passwd and /etc/group are older than the cache's racy
# window, then makes one Enrich so that the cache holds the file. Other
# tests on this machine add users too: at most 30 s.
settle() {
        local i now
        for i in $(seq 60); do
                now=$(date +%s)
                if [ $((now - $(stat -c %Z /etc/passwd))) -ge 2 ] && [ $((now - $(stat -c %Z /etc/group))) -ge 2 ]; then
                        break
                fi
                sleep 0.5
        done
        enrich "$U1" >/dev/null
}
cache_said() { grep -c "$1" "$TMP/enrichd.log"; }

settle
check idc-cache-on grep -q "Caching the entries of /etc/passwd" "$TMP/enrichd.log"
check_eq idc-first-enrich-uid "$(id -u "$X")" "$(enrich "$X" | reply_uid)"

settle
userdel "$X"
sleep 0.3       # past the racy 100 ms: the cache, not NSS, must notice
check_eq idc-userdel-seen io.enrich.NoSuchUser "$(enrich "$X" | reply_error)"
settle
check_eq idc-userdel-seen-settled io.enrich.NoSuchUser "$(enrich "$X" | reply_error)"

useradd -M -d /nonexistent -s /bin/sh -u 61873 "$X" 2>/dev/null ||
        useradd -M -d /nonexistent -s /bin/sh "$X"
sleep 0.3
check_eq idc-useradd-seen "$(id -u "$X")" "$(enrich "$X" | reply_uid)"
settle
check_eq idc-useradd-seen-settled "$(id -u "$X")" "$(enrich "$X" | reply_uid)"

usermod -u 61874 "$X" 2>/dev/null || usermod -u 61875 "$X"
check_eq idc-usermod-uid-seen "$(id -u "$X")" "$(enrich "$X" | reply_uid)"
settle
check_eq idc-usermod-uid-seen-settled "$(id -u "$X")" "$(enrich "$X" | reply_uid)"

usermod -aG "$G" "$X"
check_eq idc-usermod-group-seen "s:read g:member" "$(enrich "$X" | token_scope)"
settle
gpasswd -d "$X" "$G" >/dev/null
check_eq idc-group-removal-seen "s:read" "$(enrich "$X" | token_scope)"

# Other sources: off (every lookup goes to NSS), whatever file times say;
# each change is taken at a reload (which also drops the cache).
printf 'passwd: files systemd\ngroup: files\n' >"$TMP/nsswitch.conf"
kill -HUP "$DAEMON_PID"; sleep 0.3; enrich "$U1" >/dev/null
for src in sss ldap winbind; do
        n=$(cache_said "Not caching passwd entries")
        printf 'passwd: files %s\ngroup: files\n' "$src" >"$TMP/nsswitch.conf"
        kill -HUP "$DAEMON_PID"; sleep 0.3; enrich "$U1" >/dev/null
        check "idc-off-with-$src" test "$(cache_said "Not caching passwd entries")" -gt "$n"
        printf 'passwd: files systemd\ngroup: files\n' >"$TMP/nsswitch.conf"
        kill -HUP "$DAEMON_PID"; sleep 0.3; enrich "$U1" >/dev/null
done
n=$(cache_said "Not caching passwd entries")
printf 'passwd: files [NOTFOUND=return] systemd\ngroup: files\n' >"$TMP/nsswitch.conf"
kill -HUP "$DAEMON_PID"; sleep 0.3; enrich "$U1" >/dev/null
check idc-off-with-action test "$(cache_said "Not caching passwd entries")" -gt "$n"
n=$(cache_said "Caching the entries")
printf 'passwd: files systemd\ngroup: files systemd\n' >"$TMP/nsswitch.conf"
kill -HUP "$DAEMON_PID"; sleep 0.3; enrich "$U1" >/dev/null
check idc-on-with-files-systemd test "$(cache_said "Caching the entries")" -gt "$n"
printf 'passwd: files sss\ngroup: files\n' >"$TMP/nsswitch.conf"
kill -HUP "$DAEMON_PID"; sleep 0.3
check_eq idc-off-still-answers "$(id -u "$U1")" "$(enrich "$U1" | reply_uid)"
enrich_finish
