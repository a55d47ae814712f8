#!/bin/sh
# manpages.sh: every manual renders without a single groff or man warning,
# has the sections an admin looks for, and documents what the programs
# actually offer: every enrichctl command and option, every enrichd option,
# every config setting the daemon knows, every pam_enrich.so argument.
# `make install-man` puts each page into the right section. Needs no root
# and no running daemon; `make man-check` runs it alone.
cd "$(dirname "$0")/../.." || exit 2
B=${ENRICH_BUILD:-build}
FAILED=0
ok() { echo "ok $1"; }
fail() { echo "not ok $1${2:+ ($2)}"; FAILED=1; }
skip() { echo "skip $1: $2"; }

PAGES="daemon/enrichd.8 daemon/enrichd.conf.5 client-lib/enrichctl/enrichctl.8
pam_module/pam_enrich.8 client-lib/libenrich.3"
TMP=$(mktemp -d /tmp/eu10-man.XXXXXX) || exit 2
trap 'rm -rf "$TMP"' EXIT INT TERM

if ! command -v groff >/dev/null 2>&1; then
        for page in $PAGES; do skip "man-renders-$(basename "$page")" "no groff (apt-get install groff-base)"; done
        exit 0
fi

# tp_lint PAGE: prints "PAGE:LINE: reason" for every .TP whose tag is
# broken; groff and man say nothing about these, they just render the rest
# of the tag as the start of the paragraph. A .TP takes exactly the next
# input line as its tag, so that line must exist, hold text (not be blank
# or another paragraph macro), and be the whole tag: a tag line that leaves
# a "[" or "(" open was continued on the next line, where it is no longer
# part of the tag (put it on one line with \fB...\fR escapes instead).
tp_lint() {
        awk -v page="$1" '
        function opens(s, o, c,   n, m) { n = gsub("\\" o, "", s); m = gsub("\\" c, "", s); return n > m }
        pending {
                pending = 0
                if ($0 ~ /^[ \t]*$/ || $0 ~ /^\.(TP|PP|P|LP|SH|SS|IP|HP|RS|RE|sp|br|TQ|nf|fi)([ \t]|$)/)
                        printf "%s:%d: .TP with an empty tag\n", page, tpline
                else if (opens($0, "[", "]") || opens($0, "(", ")"))
                        printf "%s:%d: .TP tag continues past its line: %s\n", page, tpline, $0
                next
        }
        /^\.TP([ \t]|$)/ { pending = 1; tpline = FNR }
        END { if (pending) printf "%s:%d: .TP with an empty tag\n", page, tpline }
        ' "$1"
}

# The checker must catch what it is for: a tag split over two lines (as
# enrichctl.8 once had), an empty tag, and a .TP at the end of a page.
printf '.TH T 1\n.SH X\n.TP\n.BR check " [" \\-\\-scope\n.IR S ]\nText.\n' >"$TMP/split.1"
printf '.TH T 1\n.SH X\n.TP\n.PP\nText.\n' >"$TMP/empty.1"
printf '.TH T 1\n.SH X\n.TP\n.B good\n.B body\nstarts with a macro.\n.TP\n' >"$TMP/end.1"
if [ -n "$(tp_lint "$TMP/split.1")" ] && [ -n "$(tp_lint "$TMP/empty.1")" ] &&
   [ "$(tp_lint "$TMP/end.1" | wc -l)" -eq 1 ]; then
        ok man-tp-lint-catches-broken-tags
else
        fail man-tp-lint-catches-broken-tags "the checker passed a broken .TP, or flagged a good one"
fi

# The text of a page as man shows it, for the "documents X" checks; groff
# hyphenates and adjusts, so render without both (-rHY=0, .na via -dAD=l).
text() { groff -man -Tutf8 -P-cbou -rHY=0 -dAD=l -rLL=200n "$1" 2>/dev/null | tr -s " "; }

for page in $PAGES; do
        name=$(basename "$page")
        if [ ! -f "$page" ]; then
                fail "man-renders-$name" "$page is missing"
                continue
        fi
        # -ww: every warning; -z: no output, only diagnostics. Also through
        # man-db (tbl, preconv, its own checks), when installed.
        groff -man -ww -z -Tutf8 "$page" >"$TMP/warn" 2>&1
        if command -v man >/dev/null 2>&1; then
                MANWIDTH=80 man --warnings=w -l -Tutf8 "$page" 2>>"$TMP/warn" >/dev/null
        fi
        if [ -s "$TMP/warn" ]; then
                fail "man-renders-$name" "$(head -n3 "$TMP/warn" | tr '\n' ' ')"
        else
                ok "man-renders-$name"
        fi
        tp_lint "$page" >"$TMP/tp"
        if [ -s "$TMP/tp" ]; then
                fail "man-tp-tags-$name" "$(head -n3 "$TMP/tp" | tr '\n' ' ')"
        else
                ok "man-tp-tags-$name"
        fi
        text "$page" >"$TMP/$name.txt"
        missing=""
        case $page in
        *.3) sections="NAME SYNOPSIS DESCRIPTION RETURN.VALUE FILES EXAMPLES" ;;
        *) sections="NAME SYNOPSIS DESCRIPTION EXIT.STATUS FILES EXAMPLES" ;;
        esac
        case $page in *pam_enrich.8) sections="NAME SYNOPSIS DESCRIPTION OPTIONS RETURN.VALUES FILES EXAMPLES" ;; esac
        for s in $sections; do
                grep -q "^$s\$" "$TMP/$name.txt" || missing="$missing $s"
        done
        if [ -z "$missing" ]; then ok "man-sections-$name"; else fail "man-sections-$name" "missing:$missing"; fi
done

# documents NAME PAGE WORDS...: every word appears in the rendered page.
documents() {
        name=$1 page=$2; shift 2
        missing=""
        for w in "$@"; do
                grep -qF -- "$w" "$TMP/$(basename "$page").txt" || missing="$missing $w"
        done
        if [ -z "$missing" ]; then ok "$name"; else fail "$name" "not documented:$missing"; fi
}

# enrichctl: the commands and options of its own --help.
if [ -x "$B/enrichctl" ]; then
        "$B/enrichctl" --help >"$TMP/ctl-help"
        commands=$(sed -n '/^Commands:/,/^$/p' "$TMP/ctl-help" | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p' | sort -u)
        options=$(grep -o -- '--[a-z][a-z-]*' "$TMP/ctl-help" client-lib/enrichctl/enrichctl.c | cut -d: -f2 | sort -u)
        # shellcheck disable=SC2086 # one word per command
        documents man-enrichctl-commands client-lib/enrichctl/enrichctl.8 $commands
        # shellcheck disable=SC2086
        documents man-enrichctl-options client-lib/enrichctl/enrichctl.8 $options
else
        skip man-enrichctl-commands "$B/enrichctl not built"
        skip man-enrichctl-options "$B/enrichctl not built"
fi

# enrichd: the options of its --help, the settings config.c accepts.
if [ -x "$B/enrichd" ]; then
        # shellcheck disable=SC2046
        documents man-enrichd-options daemon/enrichd.8 $("$B/enrichd" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
else
        skip man-enrichd-options "$B/enrichd not built"
fi
settings=$(sed -n 's/.*strcmp(key, "\([a-z_]*\)") == 0.*/\1/p' daemon/config.c | sort -u)
# shellcheck disable=SC2086
documents man-config-settings daemon/enrichd.conf.5 $settings
# pam_enrich.so: the arguments args.c parses.
pam_args=$(sed -n 's/.*arg_value(arg, "\([a-z_]*\)").*/\1=/p; s/.*strcmp(arg, "\([a-z_]*\)") == 0.*/\1/p' pam_module/args.c | sort -u)
# shellcheck disable=SC2086
documents man-pam-arguments pam_module/pam_enrich.8 $pam_args
# libenrich: every function enrich.h declares.
functions=$(grep -o 'enrich_[a-z_]*(' client-lib/enrich.h | tr -d '(' | sort -u)
# shellcheck disable=SC2086
documents man-libenrich-functions client-lib/libenrich.3 $functions

# make install-man: each page in its section, and the completion.
if make -s install-man DESTDIR="$TMP/root" PREFIX=/usr >"$TMP/install.log" 2>&1 &&
   [ -f "$TMP/root/usr/share/man/man8/enrichctl.8" ] && [ -f "$TMP/root/usr/share/man/man8/enrichd.8" ] &&
   [ -f "$TMP/root/usr/share/man/man8/pam_enrich.8" ] && [ -f "$TMP/root/usr/share/man/man5/enrichd.conf.5" ] &&
   [ -f "$TMP/root/usr/share/man/man3/libenrich.3" ] &&
   [ -f "$TMP/root/usr/share/bash-completion/completions/enrichctl" ]; then
        ok man-install
else
        fail man-install "$(tr '\n' ' ' <"$TMP/install.log")"
fi
# man finds the installed page by name, as `man enrichctl` would.
if command -v man >/dev/null 2>&1 &&
   MANPATH="$TMP/root/usr/share/man" man -w enrichctl 2>/dev/null | grep -q "$TMP/root/usr/share/man/man8/enrichctl.8"; then
        ok man-finds-enrichctl
elif command -v man >/dev/null 2>&1; then
        fail man-finds-enrichctl "man -w enrichctl with MANPATH=$TMP/root/usr/share/man"
else
        skip man-finds-enrichctl "no man (apt-get install man-db)"
fi
exit "$FAILED"
