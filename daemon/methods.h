/* methods.h: the io.enrich and org.varlink.service methods. Every call is
 * authorized from the peer's SO_PEERCRED credentials taken at accept time,
 * never from anything in its parameters. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <jansson.h>
#include "config.h"
#include "db.h"
#include "signer.h"

#define ENRICH_VERSION "0.1.0"
#define ENRICH_VENDOR  "enrich"
#define ENRICH_URL     "man:enrichd(8)"

/* The daemon's state, owned by main. */
typedef struct enrichd {
        config *config;
        db *db;
        signer *signer;
        char *machine_id;
        int64_t started_ms;    /* CLOCK_MONOTONIC */
} enrichd;

/* Answers one call. Returns a new reply object; NULL only when out of memory. */
json_t *methods_call(enrichd *d, const struct ucred *peer, const char *method,
                     json_t *parameters, bool more);

/* The io.enrich interface description embedded from daemon/io.enrich.varlink
 * (interface.c). */
const char *interface_description(void);
