#!/bin/sh
# tests/e2e/rootfs.sh OUT.tar: makes (or reuses) a Debian 12 minbase root
# with the packages listed in tests/e2e/packages, as a tarball. The cache
# key is a hash of that list and of the suite, so editing the list makes a
# new root and a second run skips debootstrap. The archive address is read
# from this machine's apt sources at run time, never written in the repo.
set -eu
out=$1
here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm

[ -s "$out" ] && exit 0

# The first non-security URI of the host's apt sources (deb822 or one-line).
mirror_from_apt() {
        for f in /etc/apt/sources.list.d/*.sources; do
                [ -f "$f" ] || continue
                sed -n 's/^URIs:[[:space:]]*//p' "$f" | tr ' ' '\n'
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
                [ -f "$f" ] || continue
                awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /=/ && $i !~ /\]$/) { print $i; break } }' "$f"
        done
}
mirror=${E2E_MIRROR:-$(mirror_from_apt | grep -v -e '-security' -e '^$' | head -n 1)}
if [ -z "$mirror" ]; then
        echo "rootfs.sh: no archive address in /etc/apt/sources*; set E2E_MIRROR" >&2
        exit 1
fi

include=$(grep -v -e '^#' -e '^$' "$here/packages" | tr '\n' ',' | sed 's/,$//')
work=$(mktemp -d "${out%/*}/eu7-debootstrap.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
echo "# e2e: debootstrap $suite from $mirror (once; cached as $out)"
debootstrap --variant=minbase --components=main --include="$include" \
        "$suite" "$work/root" "$mirror" >"$work/log" 2>&1 || {
        tail -n 30 "$work/log" >&2
        exit 1
}
# Leave apt's download cache out of the tarball.
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*_Packages
tar -C "$work/root" --numeric-owner -czf "$work/root.tar.gz" .
mv "$work/root.tar.gz" "$out"
