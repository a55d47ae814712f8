/* b64url.h: base64url without padding (RFC 4648 section 5), as JWS uses. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Encodes len bytes; *ret is a NUL-terminated malloc'd string. 0 or -ENOMEM. */
int b64url_encode(const void *data, size_t len, char **ret);

/* Decodes len characters (no padding, no whitespace); *ret is malloc'd and
 * NUL-terminated for convenience, *ret_len its length. 0, -EINVAL or -ENOMEM. */
int b64url_decode(const char *text, size_t len, uint8_t **ret, size_t *ret_len);

/* A random identifier: `bytes` random bytes from the OpenSSL RNG, base64url.
 * It never starts with '-', so it is never mistaken for an option when an
 * admin passes it on a command line. 0, -EIO or -ENOMEM. */
int b64url_random_id(size_t bytes, char **ret);
