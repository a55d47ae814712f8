[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# config.sh: the fleet group of enrichd.conf, as `enrichd --check-config`
# sees it: a good group passes; a bad endpoint URL, a missing, unreadable
# or over-permissive credentials file, a bad issuers JWKS, an unknown key
# and a missing endpoints or issuers each fail with a message naming the
# problem. No etcd needed.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-config-good fleet-config-no-fleet-unchanged fleet-config-bad-endpoint fleet-config-endpoint-no-port
fleet-config-credentials-missing fleet-config-credentials-0644 fleet-config-credentials-format
fleet-config-issuers-not-jwks fleet-config-issuers-empty fleet-config-unknown-key fleet-config-needs-endpoints
fleet-config-needs-issuers fleet-config-bad-label fleet-config-bad-prefix"
enrich_require $CHECKS
enrich_setup
$FLEET_TOOL keygen "$TMP/i.pem" "$TMP/i.jwks" || { fail fleet-config-keys; exit 1; }
printf 'root:secret\n' >"$TMP/cred" && chmod 0600 "$TMP/cred"
printf 'root:secret\n' >"$TMP/cred-open" && chmod 0644 "$TMP/cred-open"
printf 'no-colon\n' >"$TMP/cred-bad" && chmod 0600 "$TMP/cred-bad"
echo '{"keys":[]}' >"$TMP/empty.jwks"
echo 'not json' >"$TMP/bad.jwks"

# conf NAME FLEET-BODY: a config with that fleet group body.
conf() {
        enrich_write_config "$TMP/$1.conf" <<EOC
fleet = {
$2
};
EOC
}
GOOD='endpoints = [ "http://127.0.0.1:2379", "https://etcd.example:2379/" ];
  prefix = "/enrich/"; credentials = "'$TMP/cred'"; host_id = "web-01";
  labels = [ "web", "eu-west" ]; issuers = "'$TMP/i.jwks'"; offline_max = 300;'
# check_config NAME EXPECT: --check-config fails and says EXPECT (a regex).
refused() {
        ! "$ENRICHD" --check-config "$TMP/$1.conf" >"$TMP/$1.out" 2>&1 && grep -q -- "$2" "$TMP/$1.out" ||
                { show "$TMP/$1.out"; return 1; }
}

conf good "$GOOD"
check fleet-config-good "$ENRICHD" --check-config "$TMP/good.conf"
enrich_write_config "$TMP/plain.conf" </dev/null
check fleet-config-no-fleet-unchanged "$ENRICHD" --check-config "$TMP/plain.conf"
conf endpoint "${GOOD/http:\/\/127.0.0.1:2379/ftp://127.0.0.1:2379}"
check fleet-config-bad-endpoint refused endpoint 'is no URL: use http://HOST:PORT'
conf noport "${GOOD/http:\/\/127.0.0.1:2379/http://127.0.0.1}"
check fleet-config-endpoint-no-port refused noport 'needs a port'
conf credmissing "${GOOD/$TMP\/cred/$TMP/nonexistent}"
check fleet-config-credentials-missing refused credmissing "fleet credentials $TMP/nonexistent: No such file"
conf credopen "${GOOD/$TMP\/cred/$TMP/cred-open}"
check fleet-config-credentials-0644 refused credopen "is mode 0644: it must be 0600"
conf credbad "${GOOD/$TMP\/cred/$TMP/cred-bad}"
check fleet-config-credentials-format refused credbad 'must hold one line "user:password"'
conf badjwks "${GOOD/$TMP\/i.jwks/$TMP/bad.jwks}"
check fleet-config-issuers-not-jwks refused badjwks "fleet issuers $TMP/bad.jwks"
conf emptyjwks "${GOOD/$TMP\/i.jwks/$TMP/empty.jwks}"
check fleet-config-issuers-empty refused emptyjwks "holds no Ed25519 key"
conf unknown "$GOOD endpoint = \"x\";"
check fleet-config-unknown-key refused unknown "unknown fleet setting 'endpoint'"
conf noendpoints 'issuers = "'"$TMP/i.jwks"'";'
check fleet-config-needs-endpoints refused noendpoints "needs 'endpoints'"
conf noissuers 'endpoints = [ "http://127.0.0.1:2379" ];'
check fleet-config-needs-issuers refused noissuers "needs 'issuers'"
conf badlabel "${GOOD/eu-west/eu west}"
check fleet-config-bad-label refused badlabel "'fleet.labels' entry \"eu west\""
conf badprefix "${GOOD/\/enrich\//enrich}"
check fleet-config-bad-prefix refused badprefix "must start and end with '/'"
exit "$FAILED"
