# enrich: plain Makefile. `make` builds everything into build/.
# See README.md for `make demo` and `make check`.

PREFIX    ?= /usr/local
SBINDIR   ?= $(PREFIX)/sbin
BINDIR    ?= $(PREFIX)/bin
LIBDIR    ?= $(PREFIX)/lib
INCLUDEDIR?= $(PREFIX)/include
DATADIR   ?= $(PREFIX)/share
PAMDIR    ?= /lib/x86_64-linux-gnu/security
SYSCONFDIR?= /etc
UNITDIR   ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
TMPFILESDIR ?= /usr/lib/tmpfiles.d
MANDIR    ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/vendor-completions
DESTDIR   ?=

B := build
CC ?= cc
# The one place the version is written: debian/changelog's first entry.
VERSION := $(or $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog 2>/dev/null),unknown)
PKGS := libsystemd sqlite3 libcrypto libconfig jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# libcurl only for the daemon (fleet mode's etcd client): the PAM module and
# the library must not pull it into every process that logs in.
CURL_CFLAGS:= $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS  := $(shell pkg-config --libs libcurl 2>/dev/null)

WARN   := -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes -Wno-unused-parameter
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong
OPT    ?= -O2 -g
SAN    ?=
CFLAGS ?=
CFLAGS += -std=gnu11 $(OPT) $(WARN) $(HARDEN) -fPIC $(SAN) -D_GNU_SOURCE -DENRICH_VERSION='"$(VERSION)"' \
          -Iclient-lib $(PKG_CFLAGS) $(CURL_CFLAGS) $(if $(CI),-Werror)
LDFLAGS += -Wl,-z,relro,-z,now $(SAN)
LIBS := $(PKG_LIBS) -lkeyutils

# client-lib: one static archive of the shared internals, linked into the
# module, the daemon and the CLI; the public libenrich.so.1 is built from it.
CLIENT_SRC := $(filter-out client-lib/claims.c,$(wildcard client-lib/*.c))
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(B)/%.o)
PUBLIC_OBJ := $(B)/client-lib/claims.o
DAEMON_SRC := $(wildcard daemon/*.c)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(B)/%.o)
PAM_SRC    := $(wildcard pam_module/*.c)
PAM_OBJ    := $(PAM_SRC:%.c=$(B)/%.o)
CTL_SRC    := $(wildcard client-lib/enrichctl/*.c)
CTL_OBJ    := $(CTL_SRC:%.c=$(B)/%.o)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(B)/tests/%)

ALL := $(B)/libenrich-internal.a $(B)/libenrich.so.1 $(B)/libenrich.so \
       $(B)/enrich.pc $(B)/enrichd $(B)/pam_enrich.so $(B)/enrichctl

.PHONY: all check demo deps install asan clean tests unit integration fuzz fuzz-targets e2e e2e-deb deb fleet format
all: $(ALL)

$(B)/%.o: %.c $(wildcard client-lib/*.h client-lib/enrichctl/*.h daemon/*.h pam_module/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libenrich-internal.a: $(CLIENT_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libenrich.so.1: $(PUBLIC_OBJ) $(B)/libenrich-internal.a client-lib/libenrich.map
	$(CC) -shared -Wl,-soname,libenrich.so.1 -Wl,--version-script=client-lib/libenrich.map \
	  $(LDFLAGS) -o $@ $(PUBLIC_OBJ) $(B)/libenrich-internal.a $(LIBS)

$(B)/libenrich.so: $(B)/libenrich.so.1
	ln -sf libenrich.so.1 $@

$(B)/enrich.pc: client-lib/enrich.pc.in
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' $< > $@

# The daemon embeds its Varlink interface descriptions from the source tree.
$(B)/daemon/interface.o: daemon/io.enrich.varlink daemon/io.systemd.UserDatabase.varlink
$(B)/enrichd: $(DAEMON_OBJ) $(B)/libenrich-internal.a
	$(CC) $(LDFLAGS) -o $@ $(DAEMON_OBJ) $(B)/libenrich-internal.a $(LIBS) $(CURL_LIBS)

# -z nodelete: libpam dlcloses the module at every pam_end and dlopens it
# at the next pam_start; in a process that opens many logins (a long-lived
# PAM application, the login benchmark) that relocated the module (-z now)
# and mapped its libraries again for every login, more than half of the
# instructions the module costs a login. The module keeps no global state,
# so staying loaded changes nothing else.
$(B)/pam_enrich.so: $(PAM_OBJ) $(B)/libenrich-internal.a pam_module/pam_enrich.map
	$(CC) -shared -Wl,--version-script=pam_module/pam_enrich.map -Wl,-z,nodelete $(LDFLAGS) \
	  -o $@ $(PAM_OBJ) $(B)/libenrich-internal.a $(LIBS) -lpam

$(B)/enrichctl: $(CTL_OBJ) $(PUBLIC_OBJ) $(B)/libenrich-internal.a
	$(CC) $(LDFLAGS) -o $@ $(CTL_OBJ) $(PUBLIC_OBJ) $(B)/libenrich-internal.a $(LIBS)

# Unit tests link the internals (and the daemon's objects, minus main) directly.
DAEMON_LIB_OBJ := $(filter-out $(B)/daemon/main.o,$(DAEMON_OBJ))
$(B)/tests/%: tests/unit/%.c $(PUBLIC_OBJ) $(DAEMON_LIB_OBJ) $(B)/libenrich-internal.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Idaemon -Itests $(LDFLAGS) -o $@ $< $(PUBLIC_OBJ) $(DAEMON_LIB_OBJ) $(B)/libenrich-internal.a $(LIBS) $(CURL_LIBS)

# Test tools (a PAM session driver, ...) used by the integration tests and the demo.
$(B)/tests/%: tests/tools/%.c $(PUBLIC_OBJ) $(B)/libenrich-internal.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(PUBLIC_OBJ) $(B)/libenrich-internal.a $(LIBS) -lpam

# Fuzz targets (tests/fuzz/fuzz_NAME.c): libFuzzer binaries built by clang
# into build-fuzz/fuzz/NAME for `make fuzz`, and, in every build, replay
# drivers $(B)/tests/test_fuzz_NAME that run the committed corpus and the
# regression inputs (tests/run.sh runs them with the unit tests). They link
# the daemon's objects with a silent log stub in place of log.c.
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAY_BIN := $(FUZZ_NAMES:%=$(B)/tests/test_fuzz_%)
FUZZ_DEPS  := tests/fuzz/support.c tests/fuzz/fuzz.h $(PUBLIC_OBJ) \
              $(filter-out $(B)/daemon/log.o,$(DAEMON_LIB_OBJ)) $(B)/libenrich-internal.a
FUZZ_LINK  = $< tests/fuzz/support.c $(filter %.o %.a,$(FUZZ_DEPS)) $(LIBS) $(CURL_LIBS)
FUZZ_SECONDS ?= 60
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

$(B)/tests/test_fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Idaemon -Itests/fuzz -DFUZZ_TARGET='"$*"' $(LDFLAGS) -o $@ tests/fuzz/replay.c $(FUZZ_LINK)

$(B)/fuzz/%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Idaemon -Itests/fuzz -fsanitize=fuzzer $(LDFLAGS) -o $@ $(FUZZ_LINK)

fuzz-targets: $(FUZZ_NAMES:%=$(B)/fuzz/%)

# Each target runs FUZZ_SECONDS; any crash, leak or timeout fails and is
# kept in tests/fuzz/regressions/ (tests/fuzz/run.sh).
fuzz: deps
	$(MAKE) B=build-fuzz CC=clang OPT="-O1 -g" SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-targets
	FUZZ_BUILD=build-fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh

tests: all $(UNIT_BIN) $(TOOL_BIN) $(FUZZ_REPLAY_BIN)

deps:
	@sh tests/deps.sh

check: deps
	$(MAKE) tests
	sh tests/run.sh

# Fleet mode against real etcd processes (Debian's etcd-server, started on
# free loopback ports by tests/fleet/lib.sh) and several enrichd hosts; as
# root. `make check` runs a short part of it (tests/integration/fleet.sh).
fleet: deps
	$(MAKE) tests
	sh tests/fleet/run.sh

# Rewrites every tracked .c and .h file in the tree's one style
# (.clang-format, with clang-format-16); make check's
# tests/integration/format.sh fails while a file differs from it.
format: deps
	sh tests/integration/format.sh --fix

# End-to-end: a booted Debian 12 container (debootstrap, cached in
# build/e2e/ or $$E2E_CACHE_DIR) with real sshd, sudo and systemd; as root.
e2e: deps
	$(MAKE) all
	bash tests/e2e/run.sh

# The same scenarios against the Debian packages (make deb) instead of
# make install.
e2e-deb: deps
	$(MAKE) deb
	E2E_DEBS=$(B)/deb bash tests/e2e/run.sh

demo: deps
	$(MAKE) all $(TOOL_BIN)
	sh tests/demo.sh

# Benchmarks (tests/bench/): programs built into $(B)/bench/ and a driver
# that prints a table of ratios against baselines measured in the same run
# and writes $(B)/bench.json. QUICK=1 runs a short version (CI); it fails
# only when a benchmark breaks, never because the machine is slow.
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(B)/bench/%)
.PHONY: bench
$(B)/bench/%: tests/bench/%.c tests/bench/bench.h $(PUBLIC_OBJ) $(B)/libenrich-internal.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/bench $(LDFLAGS) -o $@ $< $(PUBLIC_OBJ) $(B)/libenrich-internal.a $(LIBS) -lpam -lpthread

# bench_fleet runs enrichd's own etcd client and fleet record code
# (daemon/etcd.c, daemon/fleet_record.c): it links the daemon's objects,
# as the unit tests do.
$(B)/bench/bench_fleet: tests/bench/bench_fleet.c tests/bench/bench.h $(DAEMON_LIB_OBJ) $(PUBLIC_OBJ) \
                        $(B)/libenrich-internal.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Idaemon -Itests/bench $(LDFLAGS) -o $@ $< $(PUBLIC_OBJ) $(DAEMON_LIB_OBJ) \
	  $(B)/libenrich-internal.a $(LIBS) $(CURL_LIBS) -lpthread

bench: deps
	$(MAKE) all $(BENCH_BIN)
	ENRICH_BUILD=$(B) /usr/bin/python3 tests/bench/run.py $(if $(QUICK),--quick)

# Every test with ASan and UBSan, leaks included; any report fails (the
# integration lib also fails a daemon whose log has one). The plain build's
# pam_session is built too: asan_module.sh loads the sanitized module into
# that unsanitized program, with libasan preloaded, as sshd would.
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0 \
            LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp:print_suppressions=0 \
            UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
asan:
	$(MAKE) B=build-asan OPT="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" all tests
	$(MAKE) all $(TOOL_BIN)
	$(ASAN_ENV) ENRICH_BUILD=build-asan ENRICH_PLAIN_BUILD=$(B) sh tests/run.sh

# enrichd.service names the daemon where this install puts it
# (/usr/local/sbin from the source tree, /usr/sbin in the Debian package).
install: all install-man
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	  $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PAMDIR) $(DESTDIR)$(SYSCONFDIR)/enrich \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
	  $(DESTDIR)$(DATADIR)/enrich/pam.d $(DESTDIR)$(DATADIR)/varlink
	install -m 0755 $(B)/enrichd $(DESTDIR)$(SBINDIR)/enrichd
	install -m 0755 $(B)/enrichctl $(DESTDIR)$(BINDIR)/enrichctl
	install -m 0644 $(B)/pam_enrich.so $(DESTDIR)$(PAMDIR)/pam_enrich.so
	install -m 0755 $(B)/libenrich.so.1 $(DESTDIR)$(LIBDIR)/libenrich.so.1
	ln -sf libenrich.so.1 $(DESTDIR)$(LIBDIR)/libenrich.so
	install -m 0644 client-lib/enrich.h $(DESTDIR)$(INCLUDEDIR)/enrich.h
	install -m 0644 $(B)/enrich.pc $(DESTDIR)$(LIBDIR)/pkgconfig/enrich.pc
	install -m 0644 daemon/io.enrich.varlink $(DESTDIR)$(DATADIR)/varlink/io.enrich.varlink
	test -e $(DESTDIR)$(SYSCONFDIR)/enrich/enrichd.conf || \
	  install -m 0644 etc/enrich/enrichd.conf $(DESTDIR)$(SYSCONFDIR)/enrich/enrichd.conf
	install -m 0644 etc/pam.d/* $(DESTDIR)$(DATADIR)/enrich/pam.d/
	install -m 0644 systemd/enrichd-fleet.conf $(DESTDIR)$(DATADIR)/enrich/enrichd-fleet.conf
	install -m 0644 systemd/enrichd.socket $(DESTDIR)$(UNITDIR)/
	sed 's|/usr/local/sbin/enrichd|$(SBINDIR)/enrichd|' systemd/enrichd.service \
	  > $(DESTDIR)$(UNITDIR)/enrichd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/enrichd.service
	install -m 0644 systemd/enrich.sysusers $(DESTDIR)$(SYSUSERSDIR)/enrich.conf
	install -m 0644 systemd/enrich.tmpfiles $(DESTDIR)$(TMPFILESDIR)/enrich.conf

# Manuals live beside their parts; completion beside enrichctl. Needs no
# build, so tests/integration/manpages.sh can check it on its own.
MAN_PAGES := daemon/enrichd.8 daemon/enrichd.conf.5 client-lib/enrichctl/enrichctl.8 \
             pam_module/pam_enrich.8 client-lib/libenrich.3
.PHONY: install-man man-check deb
install-man:
	install -d $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	for page in $(MAN_PAGES); do \
	  section=$${page##*.}; \
	  install -m 0644 $$page $(DESTDIR)$(MANDIR)/man$$section/ || exit 1; \
	done
	install -m 0644 client-lib/enrichctl/enrichctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/enrichctl
	install -m 0644 client-lib/enrichctl/enrichctl.zsh-completion $(DESTDIR)$(ZSHCOMPDIR)/_enrichctl

# Renders every manual with warnings on; run by `make check` too.
man-check:
	sh tests/integration/manpages.sh

# Debian packages (debian/): dpkg-buildpackage writes them next to the
# source tree; they are moved into build/deb/. The package build uses its
# own build/debian, so it leaves build/ alone.
DEB_VERSION = $(shell dpkg-parsechangelog -S Version 2>/dev/null)
deb:
	dpkg-buildpackage -us -uc -b
	@mkdir -p $(B)/deb
	for f in ../enrich_$(DEB_VERSION)_* ../enrich-dbgsym_$(DEB_VERSION)_* \
	         ../libenrich1_$(DEB_VERSION)_* ../libenrich1-dbgsym_$(DEB_VERSION)_* \
	         ../libenrich-dev_$(DEB_VERSION)_*; do \
	  [ -e "$$f" ] && mv -f "$$f" $(B)/deb/; \
	done; true
	@ls -l $(B)/deb

clean:
	rm -rf build build-asan build-fuzz
