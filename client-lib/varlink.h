/* varlink.h: Varlink framing (JSON object + NUL) for clients and servers.
 * Every message is bounded by VARLINK_MAX_MESSAGE; every client operation is
 * bounded by a deadline. */
#pragma once
#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <jansson.h>

#define VARLINK_MAX_MESSAGE (64 * 1024)
/* Most rows one page of an io.enrich listing holds (its limit parameter):
 * enrichd's bound, which enrichctl asks within. */
#define VARLINK_LIST_MAX_ROWS 1000

/* Incremental receive buffer: bytes in, whole messages out. The bytes not
 * yet taken are data[start, len); data[start, scan) holds no NUL (searched
 * already); the last tail bytes are the message being assembled. Taking a
 * message moves start, not the bytes: they move down only when appending
 * needs the room. */
typedef struct varlink_buffer {
        char *data;
        size_t start, scan, len;
        size_t cap;
        size_t tail;
} varlink_buffer;

void varlink_buffer_init(varlink_buffer *b);
void varlink_buffer_free(varlink_buffer *b);
/* Appends received bytes. -EMSGSIZE when a message grows past the limit
 * without its NUL terminator, -ENOMEM. */
int varlink_buffer_append(varlink_buffer *b, const void *data, size_t len);
/* Takes the next complete message. Returns 1 with *ret set (a JSON object,
 * new reference), 0 when more bytes are needed, -EBADMSG when the message is
 * not valid JSON or not an object. */
int varlink_buffer_take(varlink_buffer *b, json_t **ret);
/* Bytes received and not taken yet. */
size_t varlink_buffer_pending(const varlink_buffer *b);
/* Whether a complete message (up to its NUL) waits to be taken. */
bool varlink_buffer_has_message(const varlink_buffer *b);

/* Serialises obj followed by NUL. -EMSGSIZE past the limit. */
int varlink_encode(const json_t *obj, char **ret, size_t *ret_len);
/* Serialises obj followed by NUL at the end of *buf (*len bytes used of
 * *cap, grown as needed), in one pass with no copy in between. On error
 * (-EMSGSIZE past the limit, -ENOMEM) *len is as it was. */
int varlink_encode_append(const json_t *obj, char **buf, size_t *len, size_t *cap);

/* Builds {"method":m,"parameters":p[, "more":true]}; p may be NULL. */
json_t *varlink_call_new(const char *method, json_t *params, bool more);
/* Builds {"parameters":p} or {"error":e,"parameters":p}; p may be NULL.
 * Steals the reference to p. */
json_t *varlink_reply_new(json_t *params, bool continues);
json_t *varlink_error_new(const char *error, json_t *params);

typedef struct varlink_client varlink_client;

/* Connects to the Unix socket at path within timeout_ms. When trusted_uids
 * is non-NULL the peer's SO_PEERCRED uid must be one of them (-EPERM if not).
 * Errors: -ENOENT, -ECONNREFUSED, -ETIMEDOUT, -EPERM, ... */
int varlink_client_connect(const char *path, int timeout_ms, const uid_t *trusted_uids, size_t n_trusted,
                           varlink_client **ret);
/* Credentials of the server, from SO_PEERCRED. */
const struct ucred *varlink_client_peer(const varlink_client *c);
/* Sends one call and waits for its (first) reply within timeout_ms.
 * Returns 0 with *ret_params (new reference, {} when absent) on a normal
 * reply; -EREMOTEIO on an error reply, with *ret_error (malloc'd name) and
 * *ret_params set; other negative errno on transport failure (-ETIMEDOUT,
 * -ECONNRESET, -EBADMSG, -EMSGSIZE). params is borrowed and may be NULL.
 * ret_error may be NULL. */
int varlink_client_call(varlink_client *c, const char *method, json_t *params, int timeout_ms, json_t **ret_params,
                        char **ret_error);
/* For "more" calls: send, then read each reply with varlink_client_next(). */
int varlink_client_send(varlink_client *c, const char *method, json_t *params, bool more, int timeout_ms);
/* Sends a call with "oneway": the server answers nothing, not even an
 * error, so nothing is read back; once this returns the call is in the
 * socket, and the server serves it even if the caller closes at once. */
int varlink_client_send_oneway(varlink_client *c, const char *method, json_t *params, int timeout_ms);
/* Reads the next reply. *ret_continues tells whether more follow. */
int varlink_client_next(varlink_client *c, int timeout_ms, json_t **ret_params, char **ret_error, bool *ret_continues);
void varlink_client_free(varlink_client *c);
