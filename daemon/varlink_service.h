/* varlink_service.h: org.varlink.service, the introspection every Varlink
 * socket answers, written once for both of the daemon's sockets. Each
 * socket passes the interfaces it serves; the service lists itself first. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* The build passes the version of debian/changelog (Makefile, VERSION). */
#ifndef ENRICH_VERSION
#define ENRICH_VERSION "0.1.0"
#endif
#define ENRICH_VENDOR "enrich"
#define ENRICH_URL    "man:enrichd(8)"

typedef struct varlink_interface {
        const char *name;               /* "io.enrich" */
        const char *description;        /* its interface description text */
} varlink_interface;

/* Answers org.varlink.service.GetInfo and GetInterfaceDescription for a
 * socket serving the n interfaces (besides org.varlink.service itself).
 * Returns false when method is neither (the caller answers it); else true
 * with *ret the new reply (NULL only when out of memory). Touches no
 * state, so any thread may call it. */
bool varlink_service_call(const varlink_interface *interfaces, size_t n, const char *method, json_t *params,
                          json_t **ret);

/* The interface descriptions kept in the source tree and embedded at build
 * time (interface.c): daemon/io.enrich.varlink and
 * daemon/io.systemd.UserDatabase.varlink. */
const char *interface_description(void);
const char *userdb_interface_description(void);
