#!/bin/sh
# tests/deps.sh: run by `make deps` (and so by `make check` and `make demo`).
# Installs the Debian packages enrich is built and tested with, but only the
# missing ones, and says nothing when every one is already there.

# The one list of build and test dependencies.
PACKAGES="build-essential pkg-config libpam0g-dev libsystemd-dev
libsqlite3-dev libssl-dev libconfig-dev libjansson-dev libkeyutils-dev
libcurl4-openssl-dev etcd-server etcd-client
keyutils python3-jwt python3-cryptography sqlite3 valgrind passwd util-linux
groff-base man-db bash-completion debhelper dpkg-dev lintian
clang clang-format-16 libclang-rt-14-dev
systemd-userdbd golang-go golang-github-varlink-go-dev
debootstrap systemd-container"

if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "tests/deps.sh: no dpkg-query (not Debian?); make sure the equivalents of these are installed:" >&2
        # shellcheck disable=SC2086 # one package name per word
        echo "  " $PACKAGES >&2
        exit 0
fi

missing=
for package in $PACKAGES; do
        status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null)
        case $status in
        ii*) ;;
        *) missing="$missing $package" ;;
        esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
        echo "tests/deps.sh: missing Debian packages; as root, run:" >&2
        echo "  apt-get install --no-install-recommends$missing" >&2
        exit 1
fi

echo "tests/deps.sh: installing$missing"
apt-get update -q || exit 1
# shellcheck disable=SC2086 # word splitting of the package list is intended
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
