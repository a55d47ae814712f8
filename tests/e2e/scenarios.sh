# tests/e2e/scenarios.sh: the scenarios of the end-to-end suite, sourced by
# tests/e2e/run.sh once the container runs. Every check goes through ok /
# not_ok / skip (run.sh); C runs a command inside the container as root.
# Each scenario puts back what it changed, so the order only matters for
# speed; except the package scenario, which removes enrich and runs last.

SSH_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
          -o ConnectTimeout=10 -o ServerAliveInterval=5)
# Printed by every remote login: its claims key, verified claims, groups.
# claims: whoami's JSON, or nothing when it failed (under --json its error
# is a JSON object on stdout too).
REPORT='echo "serial=$(keyctl search @s user enrich:claims 2>/dev/null)";
echo "claims=$(enrichctl whoami --json 2>/dev/null | tr -d "\n" | grep -v "^{ *\"error\":")";
echo "groups=$(id -Gn)"'

# ssh_pw USER PASSWORD COMMAND: a password login (sshpass), from inside.
ssh_pw() {
        C SSHPASS="$2" sshpass -e ssh "${SSH_OPTS[@]}" -o PubkeyAuthentication=no \
                -o PreferredAuthentications=password "$1@127.0.0.1" "$3"
}
# ssh_key COMMAND: alice's public key login.
ssh_key() {
        C ssh "${SSH_OPTS[@]}" -i /root/.ssh/alice_ed25519 -o BatchMode=yes \
                -o PreferredAuthentications=publickey alice@127.0.0.1 "$1"
}
# field NAME TEXT: the value of the "NAME=" line of a REPORT.
field() { sed -n "s/^$1=//p" <<<"$2" | head -n 1; }
# jget PATH JSON: the value at PATH ("act.sub"); lists one item a line.
jget() { $PY $E2E/jsonq.py get "$1" <<<"$2"; }
# has PATH VALUE JSON: the list (or space-separated string) at PATH has VALUE.
has() { jget "$1" "$3" | tr ' ' '\n' | grep -qxF -- "$2"; }
# is PATH VALUE JSON: the value at PATH is VALUE.
is() { [ "$(jget "$1" "$3")" = "$2" ]; }
# key_payload SERIAL: the claims in a key, read as root (the key's owner).
key_payload() { C keyctl pipe "$1" 2>/dev/null | $PY $E2E/jsonq.py payload; }
# key_gone SERIAL: the key is revoked, expired or unlinked everywhere.
key_gone() { [ -n "$1" ] && ! C keyctl describe "$1" >/dev/null 2>&1; }
# wait_for SECONDS COMMAND...: polls every 0.1 s until the command succeeds.
wait_for() {
        local deadline=$(($(date +%s%N) + $1 * 1000000000)); shift
        until "$@"; do
                [ "$(date +%s%N)" -ge "$deadline" ] && return 1
                sleep 0.1
        done
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
admin() { C runuser -u dana -- enrichctl "$@"; }
# bg_login NAME USER PASSWORD EXTRA: a login kept open in the background
# until /tmp/e2e-release-NAME exists; REPORT lines go to $WORK/NAME.out, and
# EXTRA runs after the release. Its nsenter pid is in BG_PID.
bg_login() {
        C rm -f "/tmp/e2e-release-$1"
        ssh_pw "$2" "$3" "$REPORT; while [ ! -e /tmp/e2e-release-$1 ]; do sleep 0.1; done; $4" \
                >"$WORK/$1.out" 2>&1 </dev/null &
        BG_PID=$!
        wait_for 15 grep -q '^groups=' "$WORK/$1.out"
}
release() { C touch "/tmp/e2e-release-$1"; }

# ---- 11 ----------------------------------------------------------------
s_hardening() {
        local out level
        out=$(C systemd-analyze security --no-pager enrichd.service 2>&1)
        level=$(sed -n 's/.*Overall exposure level for enrichd.service: *\([0-9.]*\).*/\1/p' <<<"$out")
        if [ -z "$level" ]; then
                not_ok "hardening/exposure-at-most-2.0" "no exposure level: $(tail -n 1 <<<"$out")"
        elif awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
                ok "hardening/exposure-at-most-2.0 (exposure $level)"
        else
                not_ok "hardening/exposure-at-most-2.0" "exposure $level"
                grep -E '^ *✗' <<<"$out" | head -n 20 | sed 's/^/# /'
        fi
}

# ---- 1 -----------------------------------------------------------------
s_socket_activation() {
        local pid user pv1 pv2 pid2 t0
        check "socket-activation/socket-listening" [ "$(C systemctl is-active enrichd.socket)" = active ]
        # Whatever connected before (an NSS lookup through userdb), start
        # from a stopped service with the socket still listening.
        C systemctl stop enrichd.service 2>/dev/null
        check "socket-activation/idle-until-connected" [ "$(C systemctl is-active enrichd.service)" = inactive ]
        t0=$(date +%s%N)
        check "socket-activation/first-connection-answered" eval 'C enrichctl status >/dev/null'
        check "socket-activation/started-by-first-connection ($(ms_since "$t0") ms)" \
                wait_for 5 eval '[ "$(C systemctl is-active enrichd.service)" = active ]'

        check "socket-activation/type-notify" [ "$(C systemctl show -P Type enrichd.service)" = notify ]
        pid=$(C systemctl show -P MainPID enrichd.service)
        user=$(C ps -o user= -p "$pid" 2>/dev/null)
        check "socket-activation/runs-as-enrich (pid $pid, user ${user:-none})" [ "$user" = enrich ]
        pv1=$(jget policyVersion "$(C enrichctl --json status)")
        C sed -i 's/^claims_ttl = 900;/claims_ttl = 899;/' /etc/enrich/enrichd.conf
        C systemctl reload enrichd.service
        pv2=$(jget policyVersion "$(C enrichctl --json status)")
        pid2=$(C systemctl show -P MainPID enrichd.service)
        check "socket-activation/reload-rereads-config (pv $pv1 -> $pv2)" \
                eval '[ -n "$pv1" ] && [ "$pv1" != "$pv2" ] && [ "$pid" = "$pid2" ]'
        C sed -i 's/^claims_ttl = 899;/claims_ttl = 900;/' /etc/enrich/enrichd.conf
        C systemctl reload enrichd.service
}

# ---- 2 -----------------------------------------------------------------
s_ssh() {
        local out claims before=$failed
        out=$(ssh_pw alice "$PW_ALICE" "$REPORT")
        claims=$(field claims "$out")
        check "ssh/password-login" [ -n "$(field groups "$out")" ]
        check "ssh/password-login-verified-claims" is sub alice "$claims"
        check "ssh/password-amr-pwd" has amr pwd "$claims"
        check "ssh/svc-sshd" is svc sshd "$claims"
        check "ssh/rhost" is rhost 127.0.0.1 "$claims"
        check "ssh/ops-over-ssh-rule-applies" eval 'has groups ops-readonly "$claims" &&
                has scope logs:read "$claims" && is tenant acme "$claims"'
        check "ssh/rule-for-other-rhosts-does-not-apply" eval '[ -n "$claims" ] && ! has scope bastion:only "$claims"'
        [ "$failed" -gt "$before" ] && note "login said: $out"

        out=$(ssh_key "$REPORT")
        claims=$(field claims "$out")
        check "ssh/key-login" [ -n "$(field groups "$out")" ]
        check "ssh/key-amr-pop" has amr pop "$claims"
        check "ssh/key-login-rule-applies" has groups ops-readonly "$claims"
}

# ---- 3 -----------------------------------------------------------------
s_sudo() {
        local out sudo_claims
        out=$(ssh_pw alice "$PW_ALICE" "s1=\$(keyctl search @s user enrich:claims 2>/dev/null); p1=\$(keyctl pipe \$s1 2>/dev/null)
echo \"before=\$s1\"
echo \"sudo=\$(echo '$PW_ALICE' | sudo -S -p '' enrichctl whoami --json 2>&1 | tr -d '\n')\"
s2=\$(keyctl search @s user enrich:claims 2>/dev/null); p2=\$(keyctl pipe \$s2 2>/dev/null)
echo \"after=\$s2\"
[ -n \"\$p1\" ] && [ \"\$p1\" = \"\$p2\" ] && echo same=yes")
        sudo_claims=$(field sudo "$out")
        check "sudo/claims-for-root" eval 'is sub root "$sudo_claims" && is uid 0 "$sudo_claims"'
        check "sudo/act-sub-alice" is act.sub alice "$sudo_claims"
        check "sudo/svc-sudo" is svc sudo "$sudo_claims"
        check "sudo/own-key-same-serial" eval '[ -n "$(field before "$out")" ] &&
                [ "$(field before "$out")" = "$(field after "$out")" ]'
        check "sudo/own-key-same-payload" [ "$(field same "$out")" = yes ]
        [ "$(field same "$out")" = yes ] || note "sudo session said: $out"
}

# ---- 4 -----------------------------------------------------------------
s_two_logins() {
        local a b pid_a pid_b ca cb sa sb after
        bg_login two-a alice "$PW_ALICE" ""; pid_a=$BG_PID
        bg_login two-b alice "$PW_ALICE" \
                'echo "after=$(keyctl search @s user enrich:claims 2>/dev/null)"; echo "still=$(enrichctl whoami --json | tr -d "\n")"'
        pid_b=$BG_PID
        a=$(cat "$WORK/two-a.out"); b=$(cat "$WORK/two-b.out")
        sa=$(field serial "$a"); sb=$(field serial "$b")
        ca=$(field claims "$a"); cb=$(field claims "$b")
        check "two-logins/both-have-claims" eval '[ -n "$sa" ] && [ -n "$sb" ]'
        check "two-logins/different-keys ($sa, $sb)" eval '[ -n "$sa" ] && [ "$sa" != "$sb" ]'
        check "two-logins/different-sids" eval '[ -n "$(jget sid "$ca")" ] && [ "$(jget sid "$ca")" != "$(jget sid "$cb")" ]'
        release two-a
        wait "$pid_a"
        check "two-logins/closed-one-revoked" wait_for 5 key_gone "$sa"
        release two-b
        wait "$pid_b"
        after=$(cat "$WORK/two-b.out")
        check "two-logins/other-untouched" eval '[ "$(field after "$after")" = "$sb" ] &&
                [ "$(jget sid "$(field still "$after")")" = "$(jget sid "$cb")" ]'
}

# ---- 5 -----------------------------------------------------------------
s_service_account() {
        local claims serial
        C systemctl start enrich-demo-job.service
        wait_for 10 eval '[ -n "$(C cat /run/enrich-demo-job.claims 2>/dev/null)" ]'
        claims=$(C cat /run/enrich-demo-job.claims 2>/dev/null | tr -d '\n')
        serial=$(C cat /run/enrich-demo-job.serial 2>/dev/null | head -n 1)
        check "service-account/unit-sees-own-claims" eval 'is sub svc-demo "$claims" && is svc enrich-service "$claims"'
        check "service-account/amr-svc" has amr svc "$claims"
        check "service-account/policy-scope" has scope demo:run "$claims"
        [ -n "$claims" ] || note "unit wrote: $(C cat /run/enrich-demo-job.serial 2>&1)"
        C systemctl stop enrich-demo-job.service
        check "service-account/stop-revokes-key" wait_for 5 key_gone "$serial"
}

# ---- 6 -----------------------------------------------------------------
s_jit_group() {
        local id out claims pid serial t0 payload
        if ! id=$(admin grant alice --group jit-deploy --ttl 2m --reason e2e 2>"$WORK/grant.err"); then
                not_ok "jit-group/grant" "$(cat "$WORK/grant.err")"
                return
        fi
        ok "jit-group/grant ($id)"
        out=$(ssh_key "$REPORT")
        claims=$(field claims "$out")
        check "jit-group/userdb-socket-linked" C test -S /run/systemd/userdb/io.enrich.Groups
        check "jit-group/id-shows-group" grep -qw jit-deploy <<<"$(field groups "$out")"
        check "jit-group/claim-in-key" has groups jit-deploy "$claims"

        bg_login jit alice "$PW_ALICE" ""; pid=$BG_PID
        serial=$(field serial "$(cat "$WORK/jit.out")")
        t0=$(date +%s%N)
        admin revoke "$id" >/dev/null
        # The still-open session's key loses the group within a second.
        check "jit-group/revoke-updates-open-session ($(ms_since "$t0") ms to revoke)" \
                wait_for 1 eval 'payload=$(key_payload "$serial") && [ -n "$payload" ] && ! has groups jit-deploy "$payload"'
        release jit
        wait "$pid"
        out=$(ssh_key "$REPORT")
        check "jit-group/new-login-lacks-group" eval '[ -n "$(field groups "$out")" ] && ! grep -qw jit-deploy <<<"$(field groups "$out")"'

        check "jit-group/new-login-claims-lack-group" eval '[ -n "$(field claims "$out")" ] && ! has groups jit-deploy "$(field claims "$out")"'
}

# ---- 7 -----------------------------------------------------------------
s_token() {
        local token id out claims
        token=$(admin token issue svc-demo --ttl 10m --description e2e 2>"$WORK/token.err" | grep -o 'enr_[A-Za-z0-9_-]*' | head -n 1)
        if [ -z "$token" ]; then
                not_ok "token-login/issue" "$(cat "$WORK/token.err")"
                return
        fi
        ok "token-login/issue"
        out=$(ssh_pw svc-demo "$token" "$REPORT")
        claims=$(field claims "$out")
        check "token-login/login" [ -n "$(field groups "$out")" ]
        check "token-login/amr-tok" has amr tok "$claims"
        id=${token#enr_}; id=${id%%_*}
        admin token revoke "$id" >/dev/null 2>"$WORK/token.err" || note "token revoke: $(cat "$WORK/token.err")"
        out=$(ssh_pw svc-demo "$token" "$REPORT" 2>/dev/null)
        check "token-login/revoked-token-refused" [ -z "$(field groups "$out")" ]
}

# ---- 8 -----------------------------------------------------------------
s_disabled() {
        local pid serial out
        bg_login bob bob "$PW_BOB" ""; pid=$BG_PID
        serial=$(field serial "$(cat "$WORK/bob.out")")
        check "disabled-identity/bob-has-claims" [ -n "$serial" ]
        if ! admin disable bob --reason e2e >/dev/null 2>"$WORK/disable.err"; then
                not_ok "disabled-identity/disable" "$(cat "$WORK/disable.err")"
        fi
        check "disabled-identity/open-session-key-revoked" wait_for 2 key_gone "$serial"
        out=$(ssh_pw bob "$PW_BOB" "$REPORT")
        check "disabled-identity/next-login-refused" [ -z "$(field groups "$out")" ]
        release bob
        wait "$pid"
        # Offboarding holds without the daemon: stopped, and after a reboot
        # emptied /run (tmpfiles puts the list back from the state copy).
        C systemctl stop enrichd.socket enrichd.service
        out=$(ssh_pw bob "$PW_BOB" "$REPORT")
        check "disabled-identity/refused-with-daemon-stopped" [ -z "$(field groups "$out")" ]
        out=$(ssh_pw alice "$PW_ALICE" "$REPORT")
        check "disabled-identity/others-fail-open-with-daemon-stopped" [ -n "$(field groups "$out")" ]
        C rm -f /run/enrich/disabled-identities
        C systemd-tmpfiles --create enrich.conf >/dev/null 2>&1
        check "disabled-identity/list-restored-by-tmpfiles" eval \
                'C grep -qx bob /run/enrich/disabled-identities && [ "$(C stat -c %a:%U /run/enrich/disabled-identities)" = 600:enrich ]'
        out=$(ssh_pw bob "$PW_BOB" "$REPORT")
        check "disabled-identity/refused-after-restore" [ -z "$(field groups "$out")" ]
        C systemctl start enrichd.socket
        wait_for 5 eval 'C enrichctl status >/dev/null 2>&1'
        admin enable bob >/dev/null 2>&1
        out=$(ssh_pw bob "$PW_BOB" "$REPORT")
        check "disabled-identity/enabled-logs-in" [ -n "$(field groups "$out")" ]
}

# ---- 9 -----------------------------------------------------------------
s_daemon_gone() {
        local t0 ms base out rc
        # the same login with the daemon up: what the machine's load makes
        # of an ssh login now, beside which the daemon's absence is timed
        t0=$(date +%s%N)
        ssh_pw alice "$PW_ALICE" "$REPORT" >/dev/null
        base=$(ms_since "$t0")
        C systemctl stop enrichd.socket enrichd.service
        check "daemon-gone/socket-removed" eval '! C test -e /run/enrich/io.enrich'
        t0=$(date +%s%N)
        out=$(ssh_pw alice "$PW_ALICE" "$REPORT")
        ms=$(ms_since "$t0")
        check "daemon-gone/fail-open-login-succeeds (${ms} ms)" [ -n "$(field groups "$out")" ]
        # fail=open costs at most the module's timeout (1500 ms by default)
        # over a login with the daemon up (${base} ms just before)
        check "daemon-gone/fail-open-within-timeout (${ms} ms, ${base} ms with the daemon)" [ "$ms" -le $((base + 1500)) ]
        check "daemon-gone/fail-open-no-claims" eval '[ -z "$(field serial "$out")" ] && [ -z "$(field claims "$out")" ]'
        C cp /etc/pam.d/sshd /etc/pam.d/sshd.e2e
        C sed -i 's/^session[[:space:]]\+optional[[:space:]]\+pam_enrich\.so\(.*\)$/session required pam_enrich.so\1 fail=closed/' /etc/pam.d/sshd
        t0=$(date +%s%N)
        out=$(ssh_pw alice "$PW_ALICE" "$REPORT"); rc=$?
        ms=$(ms_since "$t0")
        check "daemon-gone/fail-closed-refused (${ms} ms, ssh status $rc)" eval '[ -z "$(field groups "$out")" ] && [ "$rc" -ne 0 ]'
        C mv /etc/pam.d/sshd.e2e /etc/pam.d/sshd
        C systemctl start enrichd.socket
        check "daemon-gone/back" wait_for 5 eval 'C enrichctl status >/dev/null 2>&1'
}

# ---- 10 ----------------------------------------------------------------
s_logout() {
        local out serial sid
        out=$(ssh_pw alice "$PW_ALICE" "$REPORT")
        serial=$(field serial "$out")
        sid=$(jget sid "$(field claims "$out")")
        check "logout/had-claims" eval '[ -n "$serial" ] && [ -n "$sid" ]'
        check "logout/key-revoked" wait_for 5 key_gone "$serial"
        check "logout/session-ended" wait_for 5 eval \
                '[ -n "$sid" ] && ! C enrichctl --json sessions | $PY $E2E/jsonq.py sids | grep -qxF -- "$sid"'
}

# ---- 12 (make e2e-deb only; last: it removes the package) ----------------
s_package() {
        local before after
        if [ -z "${E2E_DEBS:-}" ]; then
                skip "package/reinstall-keeps-edited-config" "installed with make install (make e2e-deb runs it)"
                return
        fi
        # provision.sh replaced the packaged config with the suite's own: an
        # admin's edit, which a reinstall or upgrade must keep, silently.
        before=$(C sha256sum /etc/enrich/enrichd.conf)
        check "package/reinstall-succeeds" eval 'C sh -c "dpkg -i /var/cache/e2e-debs/enrich_*.deb </dev/null" >"$WORK/reinstall.log" 2>&1'
        after=$(C sha256sum /etc/enrich/enrichd.conf)
        check "package/reinstall-keeps-edited-config" eval '[ -n "$before" ] && [ "$before" = "$after" ]'
        check "package/daemon-answers-after-reinstall" wait_for 10 eval 'C enrichctl status >/dev/null 2>&1'
        check "package/remove-keeps-state" eval 'C dpkg -r enrich >"$WORK/remove.log" 2>&1 &&
                C test -e /var/lib/enrich/enrich.db && C test -e /var/lib/enrich/signing-key.pem'
        check "package/purge-removes-state-and-config" eval 'C dpkg --purge enrich >"$WORK/purge.log" 2>&1 &&
                ! C test -e /var/lib/enrich && ! C test -e /etc/enrich/enrichd.conf'
        check "package/purge-keeps-user" eval 'C getent passwd enrich >/dev/null'
}

run_scenarios() {
        local s t all="hardening socket_activation ssh sudo two_logins service_account
                       jit_group token disabled daemon_gone logout package"
        for s in ${*:-$all}; do
                s=${s//-/_}
                t=$(date +%s)
                note "scenario ${s//_/-}"
                "s_$s"
                note "scenario ${s//_/-}: $(($(date +%s) - t)) s"
        done
}
