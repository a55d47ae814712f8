#!/bin/sh
# layers.sh: the daemon's files call each other in one direction only
# (docs/architecture.md, "The daemon's files, by layer"). Read from the
# #include "..." lines of daemon/*.c and daemon/*.h, with a file and its
# header as one node (x.c and x.h are "x"):
# - the graph has no cycle;
# - every file stands in one layer of LAYERS below, and includes only
#   files of its own layer or of a lower one (a higher number);
# - every header belongs to a .c of its name (enrichd.h, the state struct,
#   excepted), so that no header can hide a call back up (as
#   method_helpers.h, implemented by methods.c, once did).
# Each check runs on the tree and on a deliberately broken sample, so a
# check that cannot fail is noticed. Needs no root.
cd "$(dirname "$0")/../.." || exit 2
FAILED=0
ok() { echo "ok $1"; }
fail() { echo "not ok $1${2:+ ($2)}"; FAILED=1; }
TMP=$(mktemp -d /tmp/enrich-layers.XXXXXX) || exit 2
trap 'rm -rf "$TMP"' EXIT INT TERM
HEADER_ONLY="enrichd"
LAYERS="
1 main
2 server
3 dispatch
4 session_methods grant_methods request_methods account_methods audit_methods key_methods config_methods userdb fleet_methods
5 method_support paging varlink_service interface
6 reload issue grant_apply live keys audit offboard throttle identity signer sign_worker fleet fleet_record enrichd
7 db sessions grants requests tokens identities passwd_cache signing_keys fleet_store etcd
8 policy clock config log paths
"

# edges DIR: "includer included" per local #include, by node name; a
# node's own header is a self-pair, which tsort reads as the node alone.
edges() {
        for f in "$1"/*.c "$1"/*.h; do
                [ -f "$f" ] || continue
                from=$(basename "$f"); from=${from%.*}
                sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
                while read -r h; do
                        [ -f "$1/$h" ] && echo "$from ${h%.h}"
                done
        done
}

# cycles DIR: prints what tsort finds of each cycle; fails when there is one.
cycles() {
        edges "$1" >"$TMP/edges"
        ! tsort "$TMP/edges" 2>&1 >/dev/null | grep .
}

# upward DIR LAYERS: prints each include that goes up a layer, and each
# file in no layer.
upward() {
        edges "$1" | awk -v layers="$2" '
                BEGIN {
                        n = split(layers, lines, "\n")
                        for (i = 1; i <= n; i++) {
                                m = split(lines[i], w, " ")
                                for (j = 2; j <= m; j++) layer[w[j]] = w[1]
                        }
                }
                $1 == $2 { if (!($1 in layer)) print $1 " is in no layer"; next }
                !($1 in layer) { print $1 " is in no layer"; next }
                !($2 in layer) { print $2 " is in no layer"; next }
                layer[$1] > layer[$2] { print $1 " (layer " layer[$1] ") includes " $2 " (layer " layer[$2] ")" }
        ' | sort -u
}

# orphans DIR: prints the headers without a .c of their name.
orphans() {
        for h in "$1"/*.h; do
                n=$(basename "$h" .h)
                case " $HEADER_ONLY " in *" $n "*) continue ;; esac
                [ -f "$1/$n.c" ] || echo "$h"
        done
}

if cycles daemon >"$TMP/cycles.out"; then
        ok "daemon-include-graph-acyclic"
else
        fail "daemon-include-graph-acyclic" "$(tr '\n' ' ' <"$TMP/cycles.out")"
fi
if [ "$(wc -l <"$TMP/edges")" -ge 40 ]; then
        ok "daemon-include-graph-read"
else
        fail "daemon-include-graph-read" "only $(wc -l <"$TMP/edges") includes found"
fi
upward daemon "$LAYERS" >"$TMP/upward.out"
if [ ! -s "$TMP/upward.out" ]; then
        ok "daemon-includes-go-down"
else
        fail "daemon-includes-go-down" "$(tr '\n' ';' <"$TMP/upward.out")"
fi
orphans daemon >"$TMP/orphans.out"
if [ ! -s "$TMP/orphans.out" ]; then
        ok "daemon-headers-have-sources"
else
        fail "daemon-headers-have-sources" "$(tr '\n' ' ' <"$TMP/orphans.out")"
fi

# The broken sample: handler -> domain -> storage -> handler, and a header
# implemented elsewhere.
mkdir -p "$TMP/cyclic"
printf '#include "handler.h"\n#include "domain.h"\n' >"$TMP/cyclic/handler.c"
printf '#pragma once\n' >"$TMP/cyclic/handler.h"
printf '#include "domain.h"\n#include "storage.h"\n' >"$TMP/cyclic/domain.c"
printf '#pragma once\n#include <stdio.h>\n' >"$TMP/cyclic/domain.h"
printf '#include "storage.h"\n#  include "handler.h"\n' >"$TMP/cyclic/storage.c"
printf '#pragma once\n' >"$TMP/cyclic/storage.h"
printf '#pragma once\n' >"$TMP/cyclic/helpers.h"
if cycles "$TMP/cyclic" >/dev/null; then
        fail "cyclic-sample-caught" "a cycle handler -> domain -> storage -> handler went unnoticed"
else
        ok "cyclic-sample-caught"
fi
SAMPLE_LAYERS="
1 handler
2 domain
3 storage
"
if upward "$TMP/cyclic" "$SAMPLE_LAYERS" | grep -q '^storage (layer 3) includes handler (layer 1)$'; then
        ok "upward-sample-caught"
else
        fail "upward-sample-caught" "storage including handler went unnoticed"
fi
if [ -n "$(orphans "$TMP/cyclic")" ]; then
        ok "orphan-header-sample-caught"
else
        fail "orphan-header-sample-caught" "helpers.h without helpers.c went unnoticed"
fi
# The same sample without its back edge passes: the check is not just
# failing on everything.
printf '#include "storage.h"\n' >"$TMP/cyclic/storage.c"
if cycles "$TMP/cyclic" >/dev/null && [ -z "$(upward "$TMP/cyclic" "$SAMPLE_LAYERS")" ]; then
        ok "acyclic-sample-passes"
else
        fail "acyclic-sample-passes"
fi
exit "$FAILED"
