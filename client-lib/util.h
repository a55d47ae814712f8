/* util.h: small helpers shared by every part. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <jansson.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))

/* jansson provides json_decrefp(); NULL-safe. */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))

static inline bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

/* Frees a secret after wiping it. NULL is fine. */
void free_secret(void *p, size_t len);

/* Parses a decimal unsigned; -EINVAL / -ERANGE. */
int parse_uint(const char *s, unsigned long max, unsigned long *ret);
/* A fleet host label or host id: what can stand in a key under the fleet's
 * etcd prefix (1 to 64 letters, digits, '-', '_', '.'). */
bool fleet_name_valid(const char *s);
/* Whether s holds a character an admin's terminal would act on or that
 * would reorder what it shows: C0 controls, DEL, C1 controls
 * (U+0080..U+009F; U+009B is CSI to xterm) and the bidirectional marks,
 * embeddings, overrides and isolates (U+200E, U+200F, U+202A..U+202E,
 * U+2066..U+2069). Any bytes may follow a lead byte: a NUL ends the check. */
bool text_has_controls(const char *s);

/* Reads a whole small file (at most max bytes) into a NUL-terminated string. */
int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_len);
/* The same from an open file, read from its current offset to its end. */
int read_fd_bounded(int fd, size_t max, char **ret, size_t *ret_len);

/* Writes data to path atomically: a temporary file in the same directory
 * (path.tmpXXXXXX), chmod mode, fsync, rename, fsync of the directory. A
 * reader sees the old content or the new, never a mix. On an error before
 * the rename the old file is untouched and the temporary one removed; an
 * error from the last step (the directory's fsync) means the new content
 * is in place but may not survive a crash: callers retry either way. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* When ret_error is non-NULL, sets *ret_error to a malloc'd message made
 * from format (NULL if out of memory). Returns 0. */
int format_error(char **ret_error, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Resolves a user name to its uid, or -ENOENT. */
int lookup_uid(const char *user, uid_t *ret);

/* What tells one version of a file from another, for caches that read it
 * again only when it changed: the file (device, inode), its link count
 * (0: renamed over or removed), size and times. ctime too: no link,
 * unlink, rename or write leaves it as it was, and no program can set it,
 * so a link count brought back by a hard link still shows. */
typedef struct file_version {
        dev_t dev;
        ino_t ino;
        nlink_t nlink;
        off_t size;
        struct timespec mtime, ctime;
} file_version;
file_version file_version_of(const struct stat *st);
bool file_version_equal(const file_version *a, const file_version *b);

/* Starts fn(arg) on a housekeeping thread of the daemon's: every signal
 * blocked (they stay with the main thread's signalfd) and at nice
 * BACKGROUND_THREAD_NICE, below the main thread, which it must never take
 * a core from while logins are served. 0 or a negative errno. */
#define BACKGROUND_THREAD_NICE 10
int background_thread_start(pthread_t *ret, void *(*fn)(void *), void *arg);
