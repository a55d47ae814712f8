/* passwd_cache.h: the entries of /etc/passwd, kept between calls so that
 * an Enrich does not open and parse the file again (identity.c). It answers
 * only where its answer is exactly NSS's: when nsswitch.conf's passwd line
 * is "files" or "files systemd" (a name found in the file ends the lookup
 * there), when nscd is not running (NSS would ask it first), and for names
 * the file has; a name it does not have goes to NSS every time (no
 * negative entries). Every lookup first stats nsswitch.conf and
 * /etc/passwd (inode, size, mtime, ctime): any change, and a reload
 * (passwd_cache_drop), rereads them. A file changed within the last
 * PASSWD_CACHE_RACY_MS is not trusted by its times (the kernel stamps
 * them from a clock that moves one tick, at most 10 ms, at a time, so a
 * second change within the tick could leave them as they were): NSS
 * answers every lookup until it is older.
 * Safe to use from any thread. */
#pragma once
#include <pwd.h>
#include <stdbool.h>

#define PASSWD_CACHE_RACY_MS 100
/* A bigger /etc/passwd is not cached (NSS reads it at each lookup). */
#define PASSWD_CACHE_MAX_BYTES (16 * 1024 * 1024)

/* 0 with *pw filled, its strings in *ret_buf (malloc'd, the caller frees);
 * -ENOENT when the cache cannot answer for name: the caller asks NSS. */
int passwd_cache_lookup(const char *name, struct passwd *pw, char **ret_buf);
/* Forgets everything: the next lookup reads the files again. */
void passwd_cache_drop(void);
/* Whether the cache answers at all, and why not (*ret_why, static text, NULL
 * when it does), as of the last lookup or check. Runs the checks now. */
bool passwd_cache_enabled(const char **ret_why);
/* Whether a passwd line of nsswitch.conf (without "passwd:") lists only the
 * sources whose answer for a name in /etc/passwd is the file's: "files",
 * optionally followed by "systemd", with no [action]. For the unit tests. */
bool passwd_cache_sources_ok(const char *sources);
/* Tests: read nsswitch.conf from path instead (NULL: the default). */
void passwd_cache_set_nsswitch(const char *path);
