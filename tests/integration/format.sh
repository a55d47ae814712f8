#!/bin/sh
# format.sh: one style in the C tree (issue 14). Every tracked .c and .h
# file, tests included, must be exactly as clang-format 16 writes it with
# the tree's .clang-format; and, checked with grep alone so that it holds
# even where clang-format is missing, no function's brace stands alone at
# the start of a line. Each check first runs on deliberately broken
# samples, so a check that cannot fail is noticed. Needs no root.
#
# --fix (`make format`): rewrite every tracked .c and .h file in place
# first, prove that each file it changed still reads as its staged version
# once whitespace and line splices are removed (files already edited are
# left out of that proof), then check. Run it after merging branches.
# CLANG_FORMAT names another binary (default clang-format-16, which
# tests/deps.sh installs; Debian 12's clang-format 14 cannot read the
# config).
cd "$(dirname "$0")/../.." || exit 2
CLANG_FORMAT=${CLANG_FORMAT:-clang-format-16}
FIX=
case $1 in
--fix) FIX=1 ;;
"") ;;
*) echo "usage: $0 [--fix]" >&2; exit 2 ;;
esac
FAILED=0
ok() { echo "ok $1"; }
fail() { echo "not ok $1${2:+ ($2)}"; FAILED=1; }
TMP=$(mktemp -d /tmp/enrich-format.XXXXXX) || exit 2
trap 'rm -rf "$TMP"' EXIT INT TERM

if git rev-parse --git-dir >/dev/null 2>&1; then
        git ls-files '*.c' '*.h' >"$TMP/files"
else
        find . -name '*.[ch]' ! -path './build*' | sed 's|^\./||' | sort >"$TMP/files"
fi
# One file name a line, none with a space: xargs below splits on blanks.
if grep -q '[[:space:]]' "$TMP/files"; then
        echo "format.sh: a C file name has a blank in it; quote it in format.sh" >&2
        exit 2
fi

if [ -n "$FIX" ]; then
        if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
                echo "format.sh: $CLANG_FORMAT is not installed (make deps, or apt-get install clang-format-16)" >&2
                exit 2
        fi
        in_git=
        git rev-parse --git-dir >/dev/null 2>&1 && in_git=1
        [ -n "$in_git" ] && git diff --name-only >"$TMP/edited-before"
        xargs "$CLANG_FORMAT" --style=file -i <"$TMP/files" || exit 2
        echo "# formatted $(wc -l <"$TMP/files") files with $CLANG_FORMAT"
        # Each file that only the formatter changed must read the same as
        # its staged version once whitespace and line splices are gone.
        if [ -n "$in_git" ]; then
                squeeze() { perl -0pe 's/\\\n//g; s/[ \t\n\r\f\v]//g'; }
                changed=0 other=
                for f in $(git diff --name-only -- '*.c' '*.h'); do
                        grep -qxF "$f" "$TMP/edited-before" && continue
                        changed=$((changed + 1))
                        git show ":$f" | squeeze >"$TMP/old"
                        squeeze <"$f" >"$TMP/new"
                        cmp -s "$TMP/old" "$TMP/new" || other="$other $f"
                done
                if [ -n "$other" ]; then
                        fail "format-changes-only-whitespace" "beyond whitespace:$other"
                else
                        ok "format-changes-only-whitespace ($changed files reformatted)"
                fi
        fi
fi

# A lone "{" at column 0 opens a function on a line of its own.
lone_brace() { grep -n '^{[[:space:]]*$' "$@" /dev/null; }
printf 'static int f(void)\n{\n        return 0;\n}\n' >"$TMP/own-line-brace.c"
if lone_brace "$TMP/own-line-brace.c" >/dev/null; then
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

if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
        echo "skip clang-format-clean: $CLANG_FORMAT is not installed (tests/deps.sh installs it)"
        exit $FAILED
fi
# The samples live outside the tree: name the tree's config.
style="--style=file:$PWD/.clang-format"
clean() { "$CLANG_FORMAT" "$style" --dry-run -Werror "$1" >/dev/null 2>&1; }
accepts() { if clean "$2"; then ok "$1"; else fail "$1"; fi; }
catches() { if clean "$2"; then fail "$1"; else ok "$1"; fi; }
printf 'static int f(void) {\n        if (f())\n                return 1;\n        return 0;\n}\n' >"$TMP/good.c"
accepts clang-format-accepts-tree-style "$TMP/good.c"
catches clang-format-catches-own-line-brace "$TMP/own-line-brace.c"
printf 'static int f(void) {\n        if (f())\n        {\n                return 1;\n        }\n        return 0;\n}\n' \
        >"$TMP/if-brace.c"
catches clang-format-catches-own-line-if-brace "$TMP/if-brace.c"
printf 'static int f(void) {\n    return 0;\n}\n' >"$TMP/indent.c"
catches clang-format-catches-4-space-indent "$TMP/indent.c"

# The whole tree in one run (well under a second): each file that would
# change is named once in clang-format's messages.
if xargs "$CLANG_FORMAT" --style=file --dry-run -Werror <"$TMP/files" >/dev/null 2>"$TMP/errors"; then
        ok "clang-format-clean"
else
        dirty=$(sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' "$TMP/errors" |
                sort -u | tr '\n' ' ')
        [ -n "$dirty" ] || dirty=$(head -1 "$TMP/errors")
        fail "clang-format-clean" "run make format; files: $dirty"
fi
exit $FAILED
