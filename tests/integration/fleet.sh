[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# fleet.sh: the short fleet suite of `make check`: the fleet group's
# config checks, and the first part of tests/fleet/fleet.sh (a real etcd,
# two hosts, a fleet grant and its revocation on a live key, records not
# signed by an issuer ignored). `make fleet` runs the whole of it.
cd "$(dirname "$0")/../.." || exit 2
bash tests/fleet/config.sh
c=$?
FLEET_QUICK=1 bash tests/fleet/fleet.sh
f=$?
[ "$c" -eq 0 ] && [ "$f" -eq 0 ]
