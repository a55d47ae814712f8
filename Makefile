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
DESTDIR   ?=

B := build
CC ?= cc
PKGS := libsystemd sqlite3 libcrypto libconfig jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN   := -Wall -Wextra -Wformat=2 -Wshadow -Wmissing-prototypes -Wno-unused-parameter
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong
OPT    ?= -O2 -g
SAN    ?=
CFLAGS ?=
CFLAGS += -std=gnu11 $(OPT) $(WARN) $(HARDEN) -fPIC $(SAN) -D_GNU_SOURCE \
          -Iclient-lib $(PKG_CFLAGS) $(if $(CI),-Werror)
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

.PHONY: all check demo deps install asan clean tests unit integration
all: $(ALL)

$(B)/%.o: %.c $(wildcard client-lib/*.h daemon/*.h pam_module/*.h tests/*.h)
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

# The daemon embeds its Varlink interface description from the source tree.
$(B)/daemon/interface.o: daemon/io.enrich.varlink
$(B)/enrichd: $(DAEMON_OBJ) $(B)/libenrich-internal.a
	$(CC) $(LDFLAGS) -o $@ $(DAEMON_OBJ) $(B)/libenrich-internal.a $(LIBS)

$(B)/pam_enrich.so: $(PAM_OBJ) $(B)/libenrich-internal.a pam_module/pam_enrich.map
	$(CC) -shared -Wl,--version-script=pam_module/pam_enrich.map $(LDFLAGS) \
	  -o $@ $(PAM_OBJ) $(B)/libenrich-internal.a $(LIBS) -lpam

$(B)/enrichctl: $(CTL_OBJ) $(PUBLIC_OBJ) $(B)/libenrich-internal.a
	$(CC) $(LDFLAGS) -o $@ $(CTL_OBJ) $(PUBLIC_OBJ) $(B)/libenrich-internal.a $(LIBS)

# Unit tests link the internals (and the daemon's objects, minus main) directly.
DAEMON_LIB_OBJ := $(filter-out $(B)/daemon/main.o,$(DAEMON_OBJ))
$(B)/tests/%: tests/unit/%.c $(PUBLIC_OBJ) $(DAEMON_LIB_OBJ) $(B)/libenrich-internal.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Idaemon -Itests $(LDFLAGS) -o $@ $< $(PUBLIC_OBJ) $(DAEMON_LIB_OBJ) $(B)/libenrich-internal.a $(LIBS)

# Test tools (a PAM session driver, ...) used by the integration tests and the demo.
$(B)/tests/%: tests/tools/%.c $(PUBLIC_OBJ) $(B)/libenrich-internal.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(PUBLIC_OBJ) $(B)/libenrich-internal.a $(LIBS) -lpam

tests: all $(UNIT_BIN) $(TOOL_BIN)

deps:
	@sh tests/deps.sh

check: deps
	$(MAKE) tests
	sh tests/run.sh

demo: deps
	$(MAKE) all $(TOOL_BIN)
	sh tests/demo.sh

asan:
	$(MAKE) B=build-asan OPT="-O1 -g" SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" all tests
	ENRICH_BUILD=build-asan ASAN_OPTIONS=detect_leaks=1 sh tests/run.sh

install: all
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
	install -m 0644 systemd/enrichd.socket systemd/enrichd.service $(DESTDIR)$(UNITDIR)/
	install -m 0644 systemd/enrich.sysusers $(DESTDIR)$(SYSUSERSDIR)/enrich.conf
	install -m 0644 systemd/enrich.tmpfiles $(DESTDIR)$(TMPFILESDIR)/enrich.conf

clean:
	rm -rf build build-asan
