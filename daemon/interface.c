/* interface.c: embeds the interface descriptions kept in the source tree
 * (daemon/io.enrich.varlink, the wire contract, and
 * daemon/io.systemd.UserDatabase.varlink), so that GetInterfaceDescription
 * always answers with those very texts. Built from the repository root (the
 * Makefile's working directory). */
#include "varlink_service.h"

#define EMBED(symbol, file) \
        __asm__(".section .rodata\n" \
                ".global " #symbol "\n" \
                ".hidden " #symbol "\n" \
                ".type " #symbol ", @object\n" #symbol ":\n" \
                ".incbin \"" file "\"\n" \
                ".byte 0\n" \
                ".size " #symbol ", . - " #symbol "\n" \
                ".previous\n"); \
        extern const char symbol[] __attribute__((visibility("hidden")))

EMBED(enrich_interface_text, "daemon/io.enrich.varlink");
EMBED(userdb_interface_text, "daemon/io.systemd.UserDatabase.varlink");

const char *interface_description(void) {
        return enrich_interface_text;
}

const char *userdb_interface_description(void) {
        return userdb_interface_text;
}
