/* disabled_list.h: the list of disabled identities that enrichd keeps
 * beside its socket, so the PAM account hook can refuse a disabled user
 * while the daemon is down, hung or flooded. The daemon writes it (format);
 * the module reads it (lookup); neither trusts the other's input blindly.
 *
 * File: <directory of the socket>/disabled-identities, mode 0600, owned by
 * the daemon user (root reads it), replaced atomically on every change.
 * Text: the header line below, then one entry per line, each ended by
 * "\n": a user name, or "uid:" and a uid in decimal (no sign, no leading
 * zero, below 4294967295) for a disabled identity whose uid is known, so an
 * alias of the same uid or another spelling of the name (sssd, winbind)
 * is refused too. Names are 1..DISABLED_LIST_MAX_NAME bytes without control
 * characters or ':' (which no passwd name holds, so "uid:" lines are never
 * names); the whole file is at most DISABLED_LIST_MAX_BYTES.
 *
 * Format 1 (DISABLED_LIST_HEADER_V1, written before uids were kept) has
 * names only: it is still read, its lines all as names. Any other header
 * is not a list. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define DISABLED_LIST_NAME       "disabled-identities"
#define DISABLED_LIST_HEADER     "# enrich disabled identities, format 2"
#define DISABLED_LIST_HEADER_V1  "# enrich disabled identities, format 1"
#define DISABLED_LIST_UID_PREFIX "uid:"
#define DISABLED_LIST_MAX_NAME   256
#define DISABLED_LIST_MAX_BYTES  (16 * 1024 * 1024)

/* The list's path for the main socket at socket_path (malloc'd into *ret).
 * -EINVAL when socket_path has no directory part. */
int disabled_list_path(const char *socket_path, char **ret);

/* Whether name can stand on a line of the list. */
bool disabled_list_name_ok(const char *name);

/* Builds the file's text from names (n of them; each must pass
 * disabled_list_name_ok, others are skipped and counted in *ret_skipped)
 * and uids (n_uids of them; (uid_t) -1 is skipped and counted too).
 * *ret is malloc'd, *ret_len its length. -EFBIG past DISABLED_LIST_MAX_BYTES. */
int disabled_list_format(const char *const *names, size_t n, const uid_t *uids, size_t n_uids, char **ret,
                         size_t *ret_len, size_t *ret_skipped);

/* Reads the list from fd (at most DISABLED_LIST_MAX_BYTES, streaming, no
 * allocation) and returns 1 when user is on it, or uid (unless NULL, for a
 * user NSS does not know) is, 0 when neither, -EBADMSG when the text is
 * not a list (a header of neither format), -EFBIG when it is too long, or
 * another -errno from read(). Garbage lines never match. */
int disabled_list_lookup(int fd, const char *user, const uid_t *uid);
