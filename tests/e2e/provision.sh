#!/bin/sh
# tests/e2e/provision.sh: runs inside the e2e root through chroot, after
# `make install DESTDIR=ROOT` (or dpkg -i of the packages) and before the
# container boots. Everything it
# needs from the source tree was copied to /tmp/e2e by tests/e2e/run.sh.
# Sets up what an administrator would on a real host: the system user and
# units, the PAM lines from etc/pam.d/, sshd, sudo and the test users.
set -eu
S=/tmp/e2e
SHARE=${E2E_SHARE:-/usr/local/share/enrich}

ldconfig
systemd-sysusers
echo "$E2E_MACHINE" >/etc/hostname
echo "127.0.1.1 $E2E_MACHINE" >>/etc/hosts

# Users: alice (Unix group ops, sudo, an ssh key), bob, the service account
# svc-demo (no password: it logs in with enrich tokens only), and dana, an
# enrich admin.
groupadd ops
useradd --create-home --shell /bin/bash --groups ops alice
useradd --create-home --shell /bin/bash bob
useradd --system --create-home --home-dir /var/lib/svc-demo --shell /bin/bash svc-demo
useradd --create-home --shell /bin/bash --groups enrich-admin dana
printf 'alice:%s\nbob:%s\ndana:%s\n' "$E2E_PW_ALICE" "$E2E_PW_BOB" "$E2E_PW_DANA" | chpasswd
cat >/etc/sudoers.d/enrich-e2e <<'SUDO'
alice ALL=(ALL:ALL) ALL
Defaults:alice lecture=never
SUDO
chmod 0440 /etc/sudoers.d/enrich-e2e
install -d -m 0700 /root/.ssh
ssh-keygen -q -t ed25519 -N '' -C alice@e2e -f /root/.ssh/alice_ed25519
install -d -m 0700 -o alice -g alice /home/alice/.ssh
install -m 0600 -o alice -g alice /root/.ssh/alice_ed25519.pub /home/alice/.ssh/authorized_keys

# sshd on 127.0.0.1 of the container's own network namespace.
cat >/etc/ssh/sshd_config.d/enrich-e2e.conf <<'SSHD'
ListenAddress 127.0.0.1
UsePAM yes
ExposeAuthInfo yes
PasswordAuthentication yes
PubkeyAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
MaxStartups 64
SSHD

# Adds the lines of a PAM snippet from etc/pam.d/ to a service's file, where
# the snippet's comments say: auth lines before "@include common-auth",
# account lines after "@include common-account", session lines at the end.
# The snippet's pam_keyinit line replaces any the file has (keep exactly one,
# before pam_enrich.so).
add_snippet() {
        snippet=$1 file=$2
        if grep -q '^[^#]*pam_keyinit' "$snippet"; then
                sed -i '/^[^#]*pam_keyinit/d' "$file"
        fi
        awk -v snippet="$snippet" '
                BEGIN {
                        while ((getline line < snippet) > 0) {
                                if (line ~ /^[ \t]*(#|$)/) continue
                                split(line, f, /[ \t]+/)
                                if (f[1] == "auth") auth = auth line "\n"
                                else if (f[1] == "account") account = account line "\n"
                                else session = session line "\n"
                        }
                }
                /^@include common-auth/ && auth != "" { printf "%s", auth; auth = "" }
                { print }
                /^@include common-account/ && account != "" { printf "%s", account; account = "" }
                END { printf "%s%s%s", auth, account, session }
        ' "$file" >"$file.new"
        mv "$file.new" "$file"
}
add_snippet $SHARE/pam.d/enrich-sshd /etc/pam.d/sshd
add_snippet $SHARE/pam.d/enrich-sudo /etc/pam.d/sudo
install -m 0644 $SHARE/pam.d/enrich-service /etc/pam.d/enrich-service

# The policy of the suite, keeping any path the installed config sets (the
# suite tests the installed layout), and the service account's unit.
{
        grep -E '^[[:space:]]*(socket|userdb_socket|jwks|state_dir)[[:space:]]*=' /etc/enrich/enrichd.conf || true
        cat $S/enrichd.conf
} >/etc/enrich/enrichd.conf.new
mv /etc/enrich/enrichd.conf.new /etc/enrich/enrichd.conf
chmod 0644 /etc/enrich/enrichd.conf
install -m 0644 $S/enrich-demo-job.service /etc/systemd/system/enrich-demo-job.service

# Every socket unit enrich installs (enrichd.socket, and any userdb one).
for unit in /lib/systemd/system/enrich*.socket; do
        systemctl enable "$(basename "$unit")"
done
# Timers that would only add noise to a short-lived test machine.
systemctl mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
        e2scrub_all.timer fstrim.timer >/dev/null 2>&1 || true
