[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# doctor_nss.sh: `enrichctl doctor` proves the features end to end, not only
# their configuration: a configured userdb group through real NSS
# (getgrnam), a member of it through getgrouplist while a grant is live,
# and the order of the PAM lines in sshd, sudo and enrich-service (read
# from a temporary PAM folder). Each check fails first, with a fix naming
# the file, line or command, and then passes once that fix is made.
. "$(dirname "$0")/lib.sh"

CHECKS="doctor-nss-not-linked doctor-nss-not-linked-fix doctor-nss-linked-ok doctor-nss-member-missing
doctor-nss-member-ok doctor-nss-daemon-down doctor-pam-readenv-before doctor-pam-readenv-fix
doctor-pam-readenv-after-ok doctor-pam-sudo-missing doctor-pam-sudo-ok doctor-pam-service-missing
doctor-pam-service-ok daemon-clean-shutdown"
enrich_require $CHECKS
enrich_setup

USERDB_DIR=/run/systemd/userdb
USERDB_SOCK=$USERDB_DIR/io.enrich.eu17-$$
CREATED_USERDB_DIR=""
[ -d "$USERDB_DIR" ] || CREATED_USERDB_DIR=1
mkdir -p "$USERDB_DIR"
eu17_cleanup() {
        enrich_cleanup
        rm -f "$USERDB_SOCK"
        [ -n "$CREATED_USERDB_DIR" ] && rmdir "$USERDB_DIR" 2>/dev/null
}
trap eu17_cleanup EXIT

free_gid() {
        local g
        for g in $(seq "$1" 61999); do
                getent group "$g" >/dev/null || { echo "$g"; return; }
        done
}
GROUP=eu17-jit-$$
GID=$(free_gid 61700)
PAMD=$TMP/doctor-pam.d
mkdir -p "$PAMD"
cat /etc/machine-id >"$TMP/machine-id"
printf 'passwd: files systemd\ngroup:  files systemd\n' >"$TMP/nsswitch.conf"
enrich_write_config <<EOF
groups = ( { name = "$GROUP"; gid = $GID; } );
EOF
cat >"$PAMD/sshd" <<EOF
session  optional pam_keyinit.so force revoke
session  optional pam_enrich.so socket=$SOCK
session  required pam_env.so user_readenv=1 envfile=/etc/default/locale
EOF
enrich_start_daemon || { fail doctor-daemon "enrichd did not start"; enrich_finish; }

doctor() {
        "$ENRICHCTL" doctor --config "$TMP/enrichd.conf" --pam-dir "$PAMD" --nsswitch "$TMP/nsswitch.conf" \
                --machine-id "$TMP/machine-id" --enrichd "$ENRICHD" --json >"$TMP/out.json" 2>"$TMP/err.txt"
        RC=$?
        "$ENRICHCTL" doctor --config "$TMP/enrichd.conf" --pam-dir "$PAMD" --nsswitch "$TMP/nsswitch.conf" \
                --machine-id "$TMP/machine-id" --enrichd "$ENRICHD" >"$TMP/out.txt" 2>&1
}
# level CHECK: the worst level doctor gave CHECK in the last run.
level() {
        "$PY" -c '
import json, sys
rank = {"ok": 0, "warning": 1, "error": 2}
levels = [f["level"] for f in json.load(open(sys.argv[1]))["findings"] if f["check"] == sys.argv[2]]
print(max(levels, key=rank.get) if levels else "none")' "$TMP/out.json" "$1" 2>/dev/null
}
# expect NAME CHECK LEVEL [TEXT]: runs doctor, wants CHECK at LEVEL and, when
# given, TEXT (fixed string) in its text output.
expect() {
        local name=$1 what=$2 want=$3 text=$4
        doctor
        if [ "$(level "$what")" = "$want" ] && { [ -z "$text" ] || grep -qF -- "$text" "$TMP/out.txt"; }; then
                ok "$name"
        else
                fail "$name" "wanted $what=$want${text:+ and '$text'}, got $what=$(level "$what") exit $RC"
                show "$TMP/out.txt"
        fi
}

# ---- a userdb group through NSS ----
# The daemon serves the group, but on a socket outside /run/systemd/userdb:
# the configuration is fine and getent still finds nothing.
getent group "$GROUP" >/dev/null && fail doctor-nss-precondition "getent found $GROUP already"
expect doctor-nss-not-linked nss error "getent group $GROUP finds nothing: the userdb socket $TMP/io.enrich.Groups is not in $USERDB_DIR"
check doctor-nss-not-linked-fix grep -qF "fix: set userdb_socket = \"$USERDB_DIR/io.enrich.Groups\"; in $TMP/enrichd.conf and restart enrichd (systemctl restart enrichd), or link it: ln -s $TMP/io.enrich.Groups $USERDB_DIR/io.enrich.Groups" "$TMP/out.txt" ||
        show "$TMP/out.txt"
# The fix: the socket where nss-systemd looks.
enrich_stop_daemon
sed -i "s|^userdb_socket = .*|userdb_socket = \"$USERDB_SOCK\";|" "$TMP/enrichd.conf"
enrich_start_daemon && poll 30 test -S "$USERDB_SOCK"
expect doctor-nss-linked-ok nss ok "getent group $GROUP gives gid $GID through NSS"

# ---- a member through getgrouplist while a grant is live ----
ctl grant "$U1" --group "$GROUP" --ttl 10m --reason eu17 >/dev/null 2>&1
ctl disable "$U1" --reason eu17 >/dev/null
# A disabled identity is in no userdb group: the grant is live, NSS denies it.
expect doctor-nss-member-missing nss error "$U1 has a live grant of $GROUP"
ctl enable "$U1" >/dev/null
expect doctor-nss-member-ok nss ok "id $U1 lists $GROUP"

# ---- the daemon down ----
enrich_stop_daemon
expect doctor-nss-daemon-down nss error "no userdb socket at $USERDB_SOCK"
enrich_start_daemon && poll 30 test -S "$USERDB_SOCK"

# ---- sshd: pam_enrich before pam_env user_readenv=1 ----
printf 'session  required pam_env.so user_readenv=1 envfile=/etc/default/locale\nsession  optional pam_keyinit.so force revoke\nsession  optional pam_enrich.so socket=%s\n' "$SOCK" >"$PAMD/sshd"
expect doctor-pam-readenv-before pam error "pam_enrich.so runs after pam_env.so user_readenv=1"
check doctor-pam-readenv-fix grep -qF "fix: move the pam_enrich.so session line ($PAMD/sshd:3) above the pam_env.so user_readenv=1 line ($PAMD/sshd:1)" "$TMP/out.txt" ||
        show "$TMP/out.txt"
printf 'session  optional pam_keyinit.so force revoke\nsession  optional pam_enrich.so socket=%s\nsession  required pam_env.so user_readenv=1\n' "$SOCK" >"$PAMD/sshd"
expect doctor-pam-readenv-after-ok pam ok

# ---- sudo and enrich-service present without pam_enrich ----
printf 'session required pam_permit.so\n@include common-session-noninteractive\n' >"$PAMD/sudo"
expect doctor-pam-sudo-missing pam warning "$PAMD/sudo does not load pam_enrich.so, so sudo sessions get no claims"
printf 'session optional pam_keyinit.so force revoke\nsession optional pam_enrich.so\n' >>"$PAMD/sudo"
expect doctor-pam-sudo-ok pam ok
printf 'account required pam_permit.so\n' >"$PAMD/enrich-service"
expect doctor-pam-service-missing pam warning "session optional pam_enrich.so amr=svc\" to $PAMD/enrich-service"
printf 'session optional pam_keyinit.so force revoke\nsession optional pam_enrich.so amr=svc\n' >>"$PAMD/enrich-service"
expect doctor-pam-service-ok pam ok

enrich_finish
