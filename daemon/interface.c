/* interface.c: embeds daemon/io.enrich.varlink, the wire contract, so that
 * GetInterfaceDescription always answers with the text kept in the source
 * tree. Built from the repository root (the Makefile's working directory). */
#include "methods.h"

__asm__(".section .rodata\n"
        ".global enrich_interface_text\n"
        ".hidden enrich_interface_text\n"
        ".type enrich_interface_text, @object\n"
        "enrich_interface_text:\n"
        ".incbin \"daemon/io.enrich.varlink\"\n"
        ".byte 0\n"
        ".size enrich_interface_text, . - enrich_interface_text\n"
        ".previous\n");

extern const char enrich_interface_text[] __attribute__((visibility("hidden")));

const char *interface_description(void) {
        return enrich_interface_text;
}
