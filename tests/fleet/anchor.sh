[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# anchor.sh: audit anchoring. Host a publishes each signed audit checkpoint
# at checkpoints/host-a; `enrichctl audit verify --fleet host-a` on a holds
# its trail to it. Then a's database is rewritten while it is down (its
# audit rows, checkpoints and audit.head replaced by nothing, which the
# local verify cannot tell from a fresh trail): the local verify still
# passes, --fleet catches it, the daemon says so in its log at start and
# does not overwrite the evidence in etcd with a checkpoint of the
# rewritten trail until an admin's checkpoint accepts it.
. "$(dirname "$0")/lib.sh"

CHECKS="fleet-anchor-host-starts fleet-anchor-published fleet-anchor-verify-ok fleet-anchor-other-host-refused
fleet-anchor-rewritten-local-verify-passes fleet-anchor-rewritten-caught fleet-anchor-rewritten-logged
fleet-anchor-evidence-kept fleet-anchor-admin-accepts"
fleet_require $CHECKS
enrich_setup
etcd_start || { fail fleet-etcd-starts; exit 1; }
fleet_keys || exit 1
fleet_host a host-a '"admin"'
# enrichd's own checkpoints after every few rows, as on a busy host
printf 'audit_checkpoint_rows = 4;\n' >>"$TMP/a/enrichd.conf"
check fleet-anchor-host-starts host_start a || exit 1

for i in 1 2 3; do hctl a grant "$U1" --scope anchor:$i --ttl 5m --reason "anchor $i" >/dev/null; done
ROW=$(hctl a audit checkpoint | sed -n 's/^checkpoint signed at row \([0-9]*\)$/\1/p')
published_row() {
        etcdctl get /enrich-test/checkpoints/host-a --print-value-only |
                $PY -c 'import json, sys; print(json.load(sys.stdin)["row"])' 2>/dev/null
}
published() { [ -n "$ROW" ] && [ "$(published_row)" = "$ROW" ]; }
check fleet-anchor-published poll 50 published || { echo "# row $ROW, published $(published_row)"; show "$TMP/a/enrichd.log"; }
verify_ok() { hctl a audit verify --fleet host-a >"$TMP/v1.out" 2>&1 && grep -q "seals the same row" "$TMP/v1.out"; }
check fleet-anchor-verify-ok verify_ok || show "$TMP/v1.out"
other() { ! hctl a audit verify --fleet host-x >"$TMP/other.out" 2>&1 && grep -q "run audit verify --fleet host-x on host-x" "$TMP/other.out"; }
check fleet-anchor-other-host-refused other || show "$TMP/other.out"

# --- the database rewritten while the host is down
host_stop a
BEFORE=$(etcdctl get /enrich-test/checkpoints/host-a --print-value-only)
sqlite3 "$TMP/a/state/enrich.db" "DELETE FROM audit; DELETE FROM audit_checkpoints;" && rm -f "$TMP/a/state/audit.head"
host_start a || exit 1
check fleet-anchor-rewritten-local-verify-passes hctl a audit verify
caught() {
        ! hctl a audit verify --fleet host-a >"$TMP/v2.out" 2>&1 && grep -q "anchor" "$TMP/v2.out" &&
                grep -q "is not in this trail" "$TMP/v2.out"
}
check fleet-anchor-rewritten-caught caught || show "$TMP/v2.out"
check fleet-anchor-rewritten-logged poll 30 host_log_has a "Audit trail does not hold the checkpoint this host published"
# Checkpoints of the rewritten trail made by enrichd on its own (every 4
# rows, at shutdown, after a restart) do not replace the evidence; an
# admin's does.
for i in 4 5 6 7 8; do hctl a grant "$U1" --scope anchor:$i --ttl 5m --reason "anchor $i" >/dev/null; done
host_stop a
host_start a || exit 1
kept() {
        sleep 1
        [ "$(sqlite3 "$TMP/a/state/enrich.db" "SELECT count(*) FROM audit_checkpoints")" -gt 0 ] &&
                [ "$(etcdctl get /enrich-test/checkpoints/host-a --print-value-only)" = "$BEFORE" ]
}
check fleet-anchor-evidence-kept kept
accepts() {
        local row
        row=$(hctl a audit checkpoint | sed -n 's/^checkpoint signed at row \([0-9]*\)$/\1/p')
        ROW=$row
        poll 50 published && hctl a audit verify --fleet host-a >/dev/null 2>&1
}
check fleet-anchor-admin-accepts accepts
host_stop a
exit "$FAILED"
