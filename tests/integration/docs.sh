#!/bin/sh
# docs.sh: the documentation stays where readers look for it (issue 14).
# - README.md is at most 250 lines: what enrich is, what a login gets, how
#   to try and install it, and links; the rest lives in docs/ and the
#   manuals.
# - No file in the tree points outside it: not at a design contract kept
#   beside the repository, nor at a shared folder or a checkout's path.
# - Every relative link in README.md, docs/*.md and tests/bench/README.md
#   names a file in the tree.
# Each check is run once on the tree and once on a deliberately broken
# copy of its input, so a check that cannot fail is noticed. Needs no root.
cd "$(dirname "$0")/../.." || exit 2
FAILED=0
ok() { echo "ok $1"; }
fail() { echo "not ok $1${2:+ ($2)}"; FAILED=1; }
TMP=$(mktemp -d /tmp/enrich-docs.XXXXXX) || exit 2
trap 'rm -rf "$TMP"' EXIT INT TERM
MAX_README_LINES=250

# The tree's files: git's list when there is one (tracked and new, not
# ignored), else everything but build output.
if git rev-parse --git-dir >/dev/null 2>&1; then
        git ls-files -co --exclude-standard >"$TMP/files"
else
        find . -type f ! -path './build*' ! -path './.git/*' ! -name .git | sed 's|^\./||' >"$TMP/files"
fi

# readme_too_long FILE: prints the line count when it is over the limit.
readme_too_long() {
        n=$(wc -l <"$1")
        [ "$n" -gt "$MAX_README_LINES" ] && echo "$n lines"
}

# outside_refs FILE...: prints FILE:LINE for every reference out of the
# tree. The patterns are split so this script does not match itself.
D=DESIGN S=shared W=work
outside_refs() {
        grep -nIE -e "${D}\.md" -e "\.\./${S}(/|\b)" -e "/${W}/" "$@" 2>/dev/null
}

# broken_links FILE...: prints FILE: TARGET for every relative Markdown
# link whose file is missing or outside the tree.
broken_links() {
        root=$(pwd -P)
        for f in "$@"; do
                dir=$(dirname "$f")
                grep -oE '\]\([^)#[:space:]]+(#[^)]*)?\)' "$f" | sed -E 's/^\]\(//; s/\)$//; s/#.*//' |
                while read -r target; do
                        case $target in
                        ''|http://*|https://*|mailto:*) continue ;;
                        esac
                        full=$(cd "$dir" 2>/dev/null && realpath -m "$target")
                        case $full in
                        "$root"/*) [ -e "$full" ] || echo "$f: $target (missing)" ;;
                        *) echo "$f: $target (outside the tree)" ;;
                        esac
                done
        done
}

# README length, and that the check fails on a README one line too long.
r=$(readme_too_long README.md)
if [ -z "$r" ]; then ok docs-readme-length; else fail docs-readme-length "README.md has $r, at most $MAX_README_LINES"; fi
seq $((MAX_README_LINES + 1)) >"$TMP/long.md"
if [ -n "$(readme_too_long "$TMP/long.md")" ]; then ok docs-readme-length-check-fails; else fail docs-readme-length-check-fails; fi

# References outside the tree, in every file; and the check catches each
# kind of reference in a file made to have them.
# shellcheck disable=SC2046 # one word per file name; the tree has no spaces
refs=$(outside_refs $(cat "$TMP/files"))
if [ -z "$refs" ]; then ok docs-no-outside-references; else fail docs-no-outside-references "$(echo "$refs" | head -n3 | tr '\n' ' ')"; fi
caught=0
for bad in "/* see ${D}.md, \"Claims\" */" "# from ../${S}/CONVENTIONS.md" "see /${W}/main/build/x"; do
        echo "$bad" >"$TMP/bad.c"
        [ -n "$(outside_refs "$TMP/bad.c")" ] && caught=$((caught + 1))
done
if [ "$caught" -eq 3 ]; then ok docs-outside-reference-check-fails; else fail docs-outside-reference-check-fails "caught $caught of 3"; fi

# Relative links in the Markdown documentation.
mds=$(grep -E '^(README\.md|docs/.*\.md|tests/bench/README\.md)$' "$TMP/files")
# shellcheck disable=SC2086
links=$(broken_links $mds)
if [ -n "$mds" ] && [ -z "$links" ]; then ok docs-links-resolve; else fail docs-links-resolve "$(echo "$links" | head -n3 | tr '\n' ' ')"; fi
mkdir -p "$TMP/tree/docs"
printf 'See [gone](nothing-here.md) and [up](../../../etc/passwd).\n' >"$TMP/tree/docs/x.md"
n=$(cd "$TMP/tree" && broken_links docs/x.md | wc -l)
if [ "$n" -eq 2 ]; then ok docs-link-check-fails; else fail docs-link-check-fails "found $n of 2 broken links"; fi

# The documents the README and the comments point at exist.
for f in docs/contract.md docs/architecture.md docs/threat-model.md docs/admin-guide.md; do
        if [ -s "$f" ]; then ok "docs-exists-$(basename "$f" .md)"; else fail "docs-exists-$(basename "$f" .md)" "$f is missing"; fi
done
exit "$FAILED"
