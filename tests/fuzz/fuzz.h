/* fuzz.h: helpers shared by the libFuzzer targets in tests/fuzz/ and by
 * replay.c, which runs the same targets without libFuzzer (gcc builds, make
 * check). Each target defines LLVMFuzzerTestOneInput and, when it needs
 * set-up, LLVMFuzzerInitialize. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "enrichd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A private temporary folder for the process, made on first use and removed
 * at exit. Aborts when it cannot be made: a target without it is useless. */
const char *fuzz_tmpdir(void);
/* Writes size bytes to path (truncating); aborts on failure. */
void fuzz_write_file(const char *path, const void *data, size_t size);
/* A NUL-terminated malloc'd copy of data (stops at an embedded NUL for C
 * string users); aborts when out of memory. */
char *fuzz_strndup(const uint8_t *data, size_t size);
/* Appends text to a libconfig string literal (without the quotes), escaping
 * what libconfig would read otherwise. Returns a malloc'd buffer. */
char *fuzz_config_quote(const uint8_t *data, size_t size);

/* A real daemon state, made on first call in the temporary folder: a config
 * with two userdb groups and two rules, a sqlite database, a signing key. */
enrichd *fuzz_daemon(void);
/* Call once per input: every few hundred inputs, or as soon as sessions
 * pile up, the database and the live set start afresh, so memory stays
 * bounded and a crash depends on little history. True when it did. */
bool fuzz_daemon_recycle(void);

/* Feeds data to a varlink_buffer as a client's byte stream, in chunks (the
 * first byte picks their size, so messages split across reads are
 * covered), and calls fn for each complete message that server.c would
 * dispatch. Stops where the server would close the connection. */
typedef void (*fuzz_call_fn)(void *userdata, const char *method, json_t *params, bool more);
void fuzz_varlink_feed(const uint8_t *data, size_t size, fuzz_call_fn fn, void *userdata);
/* Aborts unless reply (taken) is a reply object, or an array of them, that
 * frames as a Varlink message. */
void fuzz_check_reply(json_t *reply);
