[ -z "$BASH_VERSION" ] && exec bash "$0" "$@"
# completion.sh: the bash completion of enrichctl, driven the way bash
# drives it (COMP_WORDS, COMP_CWORD, the _enrichctl function): commands,
# per-command options, user names, and the grant and session ids of a real
# daemon; with no daemon it completes nothing and prints nothing.
. "$(dirname "$0")/lib.sh"

CHECKS="completion-commands completion-global-options completion-grant-options
completion-token-subcommands completion-doctor-options completion-users completion-every-command
completion-audit-subcommands completion-audit-options completion-keys-subcommands completion-keys-rotate-options
completion-grant-ids completion-session-ids completion-no-daemon-quiet zsh-completion-installed
zsh-completion-every-command zsh-completion-parses daemon-clean-shutdown"
COMPLETION=$(cd "$(dirname "$0")/../.." && pwd)/client-lib/enrichctl/enrichctl.bash-completion
if [ ! -f /usr/share/bash-completion/bash_completion ]; then
        for n in $CHECKS; do skip "$n" "no bash-completion (apt-get install bash-completion)"; done
        exit 0
fi
enrich_require $CHECKS
enrich_setup
enrich_start_daemon || { fail completion-daemon "enrichd did not start"; enrich_finish; }

# complete WORDS...: the completions bash would offer for the last word,
# one per line, sorted. Runs in a fresh bash with the real framework.
complete_line() {
        bash -c '
                . /usr/share/bash-completion/bash_completion
                . "$1"; shift
                COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
                COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
                _enrichctl enrichctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
                printf "%s\n" "${COMPREPLY[@]}" | sort' bash "$COMPLETION" "$@" 2>"$TMP/complete.err"
}
PATH=$BUILD:$PATH
export PATH
# has WORD WORDS...: the completion of WORDS offers WORD.
has() { local want=$1; shift; complete_line "$@" | grep -qxF -- "$want"; }

check completion-commands has grant enrichctl gr
check completion-global-options has --socket enrichctl --so
check completion-grant-options has --reason enrichctl grant alice --re
check completion-token-subcommands has rotate enrichctl token ro
check completion-doctor-options has --pam-dir enrichctl doctor --pam
# Every command `enrichctl --help` lists is offered.
every_command() {
        local offered missing="" c
        offered=$(complete_line enrichctl "")
        for c in $("$ENRICHCTL" --help | sed -n 's/^  \([a-z][a-z]*\)\( .*\)\{0,1\}$/\1/p' | sort -u); do
                echo "$offered" | grep -qxF "$c" || missing="$missing $c"
        done
        [ -z "$missing" ] || { echo "# not offered:$missing"; return 1; }
}
check completion-every-command every_command
check completion-audit-subcommands has verify enrichctl audit ve
check completion-audit-options has --follow enrichctl audit --fo
check completion-keys-subcommands has rotate enrichctl keys ro
check completion-keys-rotate-options has --compromised enrichctl keys rotate --com
check completion-users has "$U1" enrichctl grant "${U1%-*}"

GRANT=$("$ENRICHCTL" --socket "$SOCK" grant "$U1" --scope eu10:read --ttl 1h --reason "eu10 completion" 2>/dev/null)
check completion-grant-ids has "$GRANT" enrichctl --socket "$SOCK" revoke "${GRANT:0:3}" ||
        { echo "# grant '$GRANT'"; complete_line enrichctl --socket "$SOCK" revoke "" | sed 's/^/#   /'; }

session_open s1 "$U1" >/dev/null
SID=$("$ENRICHCTL" --socket "$SOCK" --json sessions "$U1" |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["sessions"][0]["sid"])' 2>/dev/null)
check completion-session-ids has "$SID" enrichctl --socket "$SOCK" revoke --session "" ||
        { echo "# sid '$SID'"; complete_line enrichctl --socket "$SOCK" revoke --session "" | sed 's/^/#   /'; }
session_close s1

quiet() { [ -z "$(complete_line enrichctl --socket "$TMP/none" revoke "")" ] && [ ! -s "$TMP/complete.err" ]; }
check completion-no-daemon-quiet quiet || show "$TMP/complete.err"

# zsh: installed where Debian's zsh looks, offering every command.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
make -s -C "$ROOT" install-man DESTDIR="$TMP/dest" PREFIX=/usr >"$TMP/install.log" 2>&1
ZSH_FILE=$TMP/dest/usr/share/zsh/vendor-completions/_enrichctl
check zsh-completion-installed eval '[ -s "$ZSH_FILE" ] && head -n1 "$ZSH_FILE" | grep -qx "#compdef enrichctl"' ||
        show "$TMP/install.log"
zsh_every_command() {
        local missing="" c
        for c in $("$ENRICHCTL" --help | sed -n 's/^  \([a-z][a-z]*\)\( .*\)\{0,1\}$/\1/p' | sort -u); do
                grep -q "^ *'$c:" "$ZSH_FILE" || missing="$missing $c"
        done
        [ -z "$missing" ] || { echo "# not in _enrichctl:$missing"; return 1; }
}
check zsh-completion-every-command zsh_every_command
if command -v zsh >/dev/null; then
        check zsh-completion-parses zsh -n "$ZSH_FILE"
else
        skip zsh-completion-parses "no zsh (apt-get install zsh)"
fi
enrich_finish
