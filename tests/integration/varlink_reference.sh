[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# varlink_reference.sh: both of enrichd's sockets, walked by a Varlink
# client the project did not write (varlink_reference.go, on the Go
# reference implementation from Debian's golang-github-varlink-go-dev):
# GetInfo, GetInterfaceDescription for every interface GetInfo lists (each
# description parsed by the reference IDL parser), then one method call.
# Built offline, in GOPATH mode, from /usr/share/gocode; skips when Go or
# the package is missing (tests/deps.sh installs both).
. "$(dirname "$0")/lib.sh"

CHECKS="go-client-builds main-walk main-lists-both main-lists-both-enrich main-call userdb-walk
userdb-lists-both userdb-lists-both-userdb userdb-call userdb-error-name userdb-error-is-no-record
daemon-clean-shutdown"
GOCODE=/usr/share/gocode
if ! command -v go >/dev/null || [ ! -d "$GOCODE/src/github.com/varlink/go/varlink" ]; then
        for n in $CHECKS; do
                skip "$n" "needs go and $GOCODE/src/github.com/varlink/go (apt-get install golang-go golang-github-varlink-go-dev)"
        done
        exit 0
fi
enrich_require $CHECKS
enrich_setup

# No network: GOPATH mode over Debian's source tree, no module proxy.
build_client() {
        GO111MODULE=off GOPATH="$TMP/gopath:$GOCODE" GOFLAGS= GOPROXY=off GOCACHE="$TMP/gocache" \
                go build -o "$TMP/varlink_reference" "$HERE/varlink_reference.go" >"$TMP/go-build.log" 2>&1
}
check go-client-builds build_client || { show "$TMP/go-build.log"; exit 1; }

enrich_write_config <<EOF
claims_ttl = 600;
max_ttl = 3600;
groups = ( { name = "vref-$$"; gid = 61990; } );
EOF
UDB=$TMP/io.enrich.Groups
if ! enrich_start_daemon || ! poll 30 test -S "$UDB"; then
        fail "daemon-starts" "enrichd did not start"
        show "$TMP/enrichd.log"
        exit 1
fi

# walk NAME SOCKET METHOD PARAMETERS: the client's output in $TMP/NAME.out.
walk() { "$TMP/varlink_reference" "$2" "$3" "$4" >"$TMP/$1.out" 2>&1; }
has() { grep -q "$2" "$TMP/$1.out"; }

check main-walk walk main "$SOCK" io.enrich.Status '{}' || show "$TMP/main.out"
check main-lists-both has main '^described org.varlink.service: 2 methods, parsed$' || show "$TMP/main.out"
check main-lists-both-enrich has main '^described io.enrich: [0-9]* methods, parsed$' || show "$TMP/main.out"
check main-call has main '^reply {.*"issuer":"enrichd@integration-test"' || show "$TMP/main.out"

check userdb-walk walk userdb "$UDB" io.systemd.UserDatabase.GetGroupRecord \
        '{"groupName":"vref-'$$'","service":"io.enrich.Groups"}' || show "$TMP/userdb.out"
check userdb-lists-both has userdb '^described org.varlink.service: 2 methods, parsed$' || show "$TMP/userdb.out"
check userdb-lists-both-userdb has userdb '^described io.systemd.UserDatabase: 3 methods' ||
        show "$TMP/userdb.out"
check userdb-call has userdb '^reply {.*"gid":61990' || show "$TMP/userdb.out"
check userdb-error-name walk userdb-error "$UDB" io.systemd.UserDatabase.GetGroupRecord \
        '{"groupName":"vref-none-'$$'","service":"io.enrich.Groups"}' || show "$TMP/userdb-error.out"
check userdb-error-is-no-record has userdb-error '^error io.systemd.UserDatabase.NoRecordFound$' ||
        show "$TMP/userdb-error.out"

enrich_finish
