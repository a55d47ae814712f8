#!/bin/sh
# format.sh: one brace style in the C tree (issue 14), two checks over every
# tracked .c and .h file:
# - a function's opening brace stands on its signature's line, never alone
#   at the start of a line (the whole tree; needs nothing but grep);
# - clang-format (the tree's .clang-format) would change nothing, in every
#   file but those listed in tests/format-exempt.txt: files written before
#   .clang-format, whose hand alignment (trailing comments, json_pack
#   pairs, compound literals, one-line cases) clang-format 14 would rewrite
#   into some 2,000 lines of noise. New files are held to it; a listed file
#   leaves the list once formatted.
# Each check also runs on a deliberately broken file, so a check that
# cannot fail is noticed. Needs no root.
cd "$(dirname "$0")/../.." || exit 2
FAILED=0
ok() { echo "ok $1"; }
fail() { echo "not ok $1${2:+ ($2)}"; FAILED=1; }
TMP=$(mktemp -d /tmp/enrich-format.XXXXXX) || exit 2
trap 'rm -rf "$TMP"' EXIT INT TERM

if git rev-parse --git-dir >/dev/null 2>&1; then
        git ls-files '*.c' '*.h' >"$TMP/files"
else
        find . -name '*.[ch]' ! -path './build*' | sed 's|^\./||' >"$TMP/files"
fi

# A lone "{" at column 0 opens a function on a line of its own.
lone_brace() { grep -n '^{[[:space:]]*$' "$@" /dev/null; }
printf 'static int f(void)\n{\n        return 0;\n}\n' >"$TMP/broken.c"
if lone_brace "$TMP/broken.c" >/dev/null; then
        ok "brace-check-catches-own-line-brace"
else
        fail "brace-check-catches-own-line-brace"
fi
# shellcheck disable=SC2046 # one file name per word
if found=$(lone_brace $(cat "$TMP/files")); then
        fail "function-braces-on-signature-line" "$(echo "$found" | head -3 | tr '\n' ' ')"
else
        ok "function-braces-on-signature-line"
fi

if ! command -v clang-format >/dev/null 2>&1; then
        echo "SKIP clang-format checks: clang-format is not installed (tests/deps.sh installs it)"
        exit $FAILED
fi
printf 'static int f(void) {\n    return 0;\n}\n' >"$TMP/indent.c"
if clang-format --style=file:.clang-format --dry-run -Werror "$TMP/indent.c" >/dev/null 2>&1; then
        fail "clang-format-catches-4-space-indent"
else
        ok "clang-format-catches-4-space-indent"
fi
dirty=
while read -r f; do
        grep -qxF "$f" tests/format-exempt.txt && continue
        clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || dirty="$dirty $f"
done <"$TMP/files"
if [ -n "$dirty" ]; then
        fail "clang-format-clean" "run clang-format -i on:$dirty"
else
        ok "clang-format-clean"
fi
# An exempt file that no longer exists is a stale line.
stale=
while read -r f; do
        [ -f "$f" ] || stale="$stale $f"
done <tests/format-exempt.txt
[ -z "$stale" ] && ok "format-exempt-list-current" || fail "format-exempt-list-current" "gone:$stale"
exit $FAILED
