#!/bin/bash
# tests/e2e/run.sh: the end-to-end suite, `make e2e` (run as root). Builds a
# Debian 12 root with debootstrap (cached as a tarball, tests/e2e/rootfs.sh),
# installs enrich into it with `make install DESTDIR=`, sets it up like a
# real host (tests/e2e/provision.sh), boots it with systemd-nspawn and drives
# real sshd, sudo and systemd logins in it through nsenter
# (tests/e2e/scenarios.sh). Prints "ok NAME" / "not ok NAME" / "skip NAME:
# why" per check and "N passed, N failed, N skipped" at the end; exits
# non-zero on any failure. Tears the container down on every path.
#
# Environment: E2E_CACHE_DIR (where the root tarball is cached, default
# build/e2e), E2E_MIRROR (archive address; default: read from this machine's
# apt sources), E2E_ONLY and E2E_HOLD (below), E2E_KEEP_LOG=1 (keep the container's journal in
# build/e2e/journal.log even when everything passed).
set -u
cd "$(dirname "$0")/../.." || exit 2
E2E=tests/e2e
B=${ENRICH_BUILD:-build}
OUT=$B/e2e
CACHE=${E2E_CACHE_DIR:-$OUT}
PY=/usr/bin/python3
MACHINE=eu7e2e$$
# Throwaway passwords of the container's test users.
PW_ALICE=alice-e2e-pw PW_BOB=bob-e2e-pw PW_DANA=dana-e2e-pw

passed=0 failed=0 skipped=0
NSPAWN_PID='' LEADER='' WORK='' ROOT=''
started=$(date +%s)

ok() { echo "ok $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok $1${2:+ ($2)}"; failed=$((failed + 1)); }
skip() { echo "skip $1: $2"; skipped=$((skipped + 1)); }
# check NAME COMMAND...: ok when the command succeeds.
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
note() { echo "# $*"; }

# Stops the container (SIGTERM asks its systemd to halt; SIGKILL of its
# PID 1 ends the whole PID namespace if that hangs), unmounts anything left
# under the root and removes it. The cached tarball stays.
teardown() {
        local rc=$? i
        trap - EXIT INT TERM
        if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
                if [ "$failed" -gt 0 ] || [ "${E2E_KEEP_LOG:-0}" = 1 ]; then
                        C journalctl -b --no-pager -o short-precise >"$OUT/journal.log" 2>&1 &&
                                note "container journal: $OUT/journal.log"
                fi
                kill -TERM "$NSPAWN_PID" 2>/dev/null
                for i in $(seq 1 100); do
                        kill -0 "$NSPAWN_PID" 2>/dev/null || break
                        sleep 0.2
                done
                if kill -0 "$NSPAWN_PID" 2>/dev/null; then
                        [ -n "$LEADER" ] && kill -KILL "$LEADER" 2>/dev/null
                        sleep 1
                        kill -KILL "$NSPAWN_PID" 2>/dev/null
                fi
                wait "$NSPAWN_PID" 2>/dev/null
        fi
        if [ -n "$WORK" ] && [ -d "$WORK" ]; then
                # nspawn mounts in its own namespace; this is belt and braces.
                awk -v r="$WORK/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
                        while read -r m; do umount -l "$m"; done
                if awk -v r="$WORK/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
                        echo "e2e: mounts left under $WORK; not removing it" >&2
                else
                        rm -rf --one-file-system "$WORK"
                fi
        fi
        rm -rf "/run/systemd/nspawn/propagate/$MACHINE"
        [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && not_ok "e2e-harness" "exited with status $rc"
        echo "# e2e took $(($(date +%s) - started)) s"
        echo "$passed passed, $failed failed, $skipped skipped"
        [ "$failed" -eq 0 ] && exit 0
        exit 1
}
trap teardown EXIT
trap 'exit 130' INT TERM

fatal() { not_ok "e2e-setup" "$*"; exit 1; }

# C COMMAND...: runs a command inside the container, as root, in all its
# namespaces, with a clean environment.
C() {
        nsenter -t "$LEADER" -a -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                LANG=C.UTF-8 HOME=/root "$@"
}

[ "$(id -u)" -eq 0 ] || { echo "skip e2e: needs root"; exit 0; }
for tool in debootstrap systemd-nspawn nsenter; do
        command -v "$tool" >/dev/null || fatal "$tool missing (make deps installs it)"
done

# 1. The root, from the cache when the package list has not changed.
mkdir -p "$OUT" "$CACHE" || fatal "cannot create $OUT or $CACHE"
key=$( (grep -v -e '^#' -e '^$' $E2E/packages; echo bookworm) | sha256sum | cut -c1-16)
tarball=$CACHE/debian12-e2e-$key.tar.gz
t0=$(date +%s)
sh $E2E/rootfs.sh "$tarball" || fatal "debootstrap failed"
WORK=$(mktemp -d "$OUT/eu7-run.XXXXXX") || fatal "mktemp"
ROOT=$WORK/root
mkdir "$ROOT" && tar -C "$ROOT" -xzf "$tarball" || fatal "cannot unpack $tarball"
note "root ready in $(($(date +%s) - t0)) s"

# 2. Install the project and set the root up like a host: from the Debian
# packages when E2E_DEBS names a folder of them (make e2e-deb), else with
# make install.
mkdir -p "$ROOT/tmp/e2e"
if [ -n "${E2E_DEBS:-}" ]; then
        # Kept in the root: the package scenario reinstalls and purges.
        mkdir -p "$ROOT/var/cache/e2e-debs"
        cp "$E2E_DEBS"/enrich_*.deb "$E2E_DEBS"/libenrich1_*.deb "$E2E_DEBS"/libenrich-dev_*.deb \
                "$ROOT/var/cache/e2e-debs/" || fatal "no packages in $E2E_DEBS (make deb)"
        chroot "$ROOT" sh -c 'dpkg -i /var/cache/e2e-debs/*.deb' >"$WORK/install.log" 2>&1 ||
                { cat "$WORK/install.log"; fatal "dpkg -i of the packages failed"; }
        SHARE=/usr/share/enrich
        note "installed from the packages: $(cd "$E2E_DEBS" && ls enrich_*.deb libenrich*.deb | tr '\n' ' ')"
        # What the packages' maintainer scripts alone did, before
        # provisioning (which runs systemd-sysusers itself) can hide it.
        check "package/postinst-creates-user-enrich" chroot "$ROOT" getent passwd enrich >/dev/null
        check "package/postinst-creates-group-enrich-admin" chroot "$ROOT" getent group enrich-admin >/dev/null
        # Numeric owner: the host's names for the root's uids differ.
        state_dir=$(stat -c '%a %u' "$ROOT/var/lib/enrich" 2>&1)
        check "package/postinst-creates-state-dir-0700 ($state_dir)" \
                [ "$state_dir" = "700 $(chroot "$ROOT" id -u enrich 2>/dev/null)" ]
        check "package/postinst-enables-socket" [ -L "$ROOT/etc/systemd/system/sockets.target.wants/enrichd.socket" ]
        check "package/config-is-conffile" grep -qx /etc/enrich/enrichd.conf "$ROOT/var/lib/dpkg/info/enrich.conffiles"
else
        make -s install DESTDIR="$ROOT" PREFIX=/usr/local >"$WORK/install.log" 2>&1 ||
                { cat "$WORK/install.log"; fatal "make install failed"; }
        SHARE=/usr/local/share/enrich
fi
cp $E2E/enrichd.conf $E2E/enrich-demo-job.service "$ROOT/tmp/e2e/"
E2E_SHARE=$SHARE E2E_MACHINE=$MACHINE E2E_PW_ALICE=$PW_ALICE E2E_PW_BOB=$PW_BOB E2E_PW_DANA=$PW_DANA \
        chroot "$ROOT" /bin/sh -e <$E2E/provision.sh >"$WORK/provision.log" 2>&1 ||
        { cat "$WORK/provision.log"; fatal "provisioning failed"; }
rm -rf "$ROOT/tmp/e2e"

# 3. Boot. Its own network namespace (sshd listens on the container's
# 127.0.0.1 only); nspawn blocks the keyring system calls unless asked.
systemd-nspawn --quiet --register=no --keep-unit --private-network \
        --system-call-filter=@keyring --machine="$MACHINE" -D "$ROOT" -b \
        </dev/null >"$WORK/console.log" 2>&1 &
NSPAWN_PID=$!
for i in $(seq 1 100); do
        LEADER=$(ps -o pid= --ppid "$NSPAWN_PID" | tr -d ' ' | head -n 1)
        [ -n "$LEADER" ] && [ "$(cat /proc/"$LEADER"/comm 2>/dev/null)" = systemd ] && break
        LEADER=
        sleep 0.1
done
[ -n "$LEADER" ] || { cat "$WORK/console.log"; fatal "the container did not start"; }
# Until its systemd answers on its bus, then until boot has finished.
for i in $(seq 1 300); do
        case $(C systemctl is-system-running 2>&1) in
        *Failed*|'') ;;
        *) break ;;
        esac
        sleep 0.1
done
state=$(C timeout 120 systemctl is-system-running --wait 2>&1)
case $state in
running|degraded) note "container $MACHINE is $state after $(($(date +%s) - t0)) s" ;;
*) C systemctl --failed --no-pager; fatal "container state: $state" ;;
esac
[ "$state" = degraded ] && C systemctl --failed --no-pager | sed 's/^/# /'

# 4. The scenarios (E2E_ONLY="ssh sudo" runs some of them; E2E_HOLD=SECONDS
# keeps the container up afterwards, to look around with nsenter -t LEADER -a).
. $E2E/scenarios.sh
run_scenarios ${E2E_ONLY:-}
if [ -n "${E2E_HOLD:-}" ]; then
        note "holding the container for $E2E_HOLD s: nsenter -t $LEADER -a"
        sleep "$E2E_HOLD"
fi
