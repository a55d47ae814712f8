/* passwd_cache.c: /etc/passwd's entries between lookups, answering only
 * where the answer is exactly NSS's (passwd_cache.h). The file is parsed by
 * glibc's own fgetpwent_r, the parser nss_files uses, and the first line of
 * a name wins, as in nss_files. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "log.h"
#include "passwd_cache.h"
#include "util.h"

#define PASSWD_FILE   "/etc/passwd"
#define NSSWITCH_FILE "/etc/nsswitch.conf"
/* glibc asks nscd first whenever its socket exists (_PATH_NSCDSOCKET). */
#define NSCD_SOCKET        "/var/run/nscd/socket"
#define NSSWITCH_MAX_BYTES (64 * 1024)

#define LOG_MSGID_PASSWD_CACHE "5c0e8a7d1b2f4e6a9d3c7b1a0e9f8d26"

/* A version of a file; exists false: stat failed. */
typedef struct file_id {
        bool exists;
        file_version v;
} file_id;

typedef struct entry {
        char *name, *passwd, *gecos, *dir, *shell;
        uid_t uid;
        gid_t gid;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *nsswitch_path;             /* NULL: NSSWITCH_FILE */
static bool nsswitch_path_set;
static file_id nsswitch_seen;
static bool nsswitch_checked, sources_ok;
static const char *why_off = "not checked yet";
static bool logged_state, logged_enabled;
static file_id passwd_seen;             /* the version entries come from */
static bool passwd_valid;               /* entries may answer for passwd_seen */
static entry *entries;
static size_t n_entries;
static size_t *slots;                   /* open addressing: index + 1, 0 empty */
static size_t n_slots;

static file_id id_of(const struct stat *st) {
        return (file_id) { .exists = true, .v = file_version_of(st) };
}

static file_id stat_id(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return (file_id) { .exists = false };
        return id_of(&st);
}

static bool same_id(const file_id *a, const file_id *b) {
        return a->exists == b->exists && (!a->exists || file_version_equal(&a->v, &b->v));
}

/* Changed so recently that a further change within the same tick of the
 * file system's clock would leave the same times and size. */
static bool racy(const file_id *f) {
        struct timespec now;
        int64_t m = (int64_t) f->v.mtime.tv_sec * 1000000000 + f->v.mtime.tv_nsec;
        int64_t c = (int64_t) f->v.ctime.tv_sec * 1000000000 + f->v.ctime.tv_nsec;
        int64_t newest = m > c ? m : c, n;

        if (clock_gettime(CLOCK_REALTIME, &now) < 0)
                return true;
        n = (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
        /* Also a time ahead of ours (a clock stepped back) is not trusted. */
        return newest >= n - (int64_t) PASSWD_CACHE_RACY_MS * 1000000;
}

bool passwd_cache_sources_ok(const char *sources) {
        static const char *const allowed[] = { "files", "systemd" };
        size_t n = 0;
        const char *p = sources;

        for (;;) {
                size_t len;

                p += strspn(p, " \t");
                len = strcspn(p, " \t\n");
                if (len == 0)
                        break;
                /* An [action] changes what a found entry means: never. */
                if (n >= 2 || len != strlen(allowed[n]) || strncmp(p, allowed[n], len) != 0)
                        return false;
                n++;
                p += len;
        }
        return n >= 1;
}

/* Whether path's passwd line allows the cache; *ret_why when not. */
static bool nsswitch_allows(const char *path, const char **ret_why) {
        char *text = NULL, *line, *save = NULL;
        size_t n_lines = 0;
        bool ok = false;
        FILE *f = fopen(path, "re");
        size_t len;

        *ret_why = "nsswitch.conf cannot be read";
        if (!f)
                return false;
        text = calloc(1, NSSWITCH_MAX_BYTES + 1);
        len = text ? fread(text, 1, NSSWITCH_MAX_BYTES + 1, f) : 0;
        fclose(f);
        if (!text || len > NSSWITCH_MAX_BYTES) {
                free(text);
                return false;
        }
        text[len] = '\0';
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *hash = strchr(line, '#'), *p = line;

                if (hash)
                        *hash = '\0';
                p += strspn(p, " \t");
                if (strncmp(p, "passwd", 6) != 0)
                        continue;
                p += 6;
                p += strspn(p, " \t");
                if (*p != ':')
                        continue;
                n_lines++;
                ok = passwd_cache_sources_ok(p + 1);
        }
        free(text);
        if (n_lines != 1) {
                *ret_why = n_lines == 0 ? "nsswitch.conf has no passwd line" : "nsswitch.conf has several passwd lines";
                return false;
        }
        *ret_why = ok ? NULL : "nsswitch.conf's passwd line has sources other than files and systemd";
        return ok;
}

static void entries_free(void) {
        for (size_t i = 0; i < n_entries; i++) {
                free(entries[i].name);
                free(entries[i].passwd);
                free(entries[i].gecos);
                free(entries[i].dir);
                free(entries[i].shell);
        }
        free(entries);
        free(slots);
        entries = NULL;
        slots = NULL;
        n_entries = n_slots = 0;
        passwd_valid = false;
}

static size_t hash_name(const char *s) {
        uint64_t h = 1469598103934665603ULL;

        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ULL;
        return (size_t) h;
}

/* The slot holding name, or the empty slot where it would go. */
static size_t *slot_of(const char *name) {
        size_t i = hash_name(name) & (n_slots - 1);

        while (slots[i] && strcmp(entries[slots[i] - 1].name, name) != 0)
                i = (i + 1) & (n_slots - 1);
        return &slots[i];
}

static int add_entry(const struct passwd *pw, size_t *size) {
        entry *e;

        if (n_entries == *size) {
                size_t grown_size = *size ? *size * 2 : 64;
                entry *grown = reallocarray(entries, grown_size, sizeof *grown);

                if (!grown)
                        return -ENOMEM;
                entries = grown;
                *size = grown_size;
        }
        e = &entries[n_entries];
        *e = (entry) { .name = strdup(pw->pw_name),
                       .passwd = strdup(pw->pw_passwd ? pw->pw_passwd : ""),
                       .gecos = strdup(pw->pw_gecos ? pw->pw_gecos : ""),
                       .dir = strdup(pw->pw_dir ? pw->pw_dir : ""),
                       .shell = strdup(pw->pw_shell ? pw->pw_shell : ""),
                       .uid = pw->pw_uid,
                       .gid = pw->pw_gid };
        n_entries++;
        if (!e->name || !e->passwd || !e->gecos || !e->dir || !e->shell)
                return -ENOMEM;
        return 0;
}

/* Reads /etc/passwd into entries; passwd_valid when they may answer. */
static int load_passwd(void) {
        struct passwd pw, *found = NULL;
        char buf[16384];
        struct stat before, after;
        size_t size = 0;
        int r = 0;
        FILE *f;

        entries_free();
        f = fopen(PASSWD_FILE, "re");
        if (!f)
                return -errno;
        if (fstat(fileno(f), &before) < 0 || before.st_size > PASSWD_CACHE_MAX_BYTES) {
                r = -EFBIG;
                goto out;
        }
        for (;;) {
                int k = fgetpwent_r(f, &pw, buf, sizeof buf, &found);

                if (k == ENOENT)
                        break;
                if (k != 0) {
                        /* A line too long for buf: NSS would grow its
                         * buffer; leave this file to NSS. */
                        r = -k;
                        goto out;
                }
                /* nss_files never matches these compat names. */
                if (pw.pw_name[0] == '+' || pw.pw_name[0] == '-')
                        continue;
                r = add_entry(&pw, &size);
                if (r < 0)
                        goto out;
        }
        if (fstat(fileno(f), &after) < 0) {
                r = -errno;
                goto out;
        }
        passwd_seen = id_of(&after);
        {
                file_id first = id_of(&before);
                /* Written to while we read it, or just now: not entries
                 * that its times identify. */
                if (!same_id(&first, &passwd_seen) || racy(&passwd_seen)) {
                        r = -EAGAIN;
                        goto out;
                }
        }
        for (n_slots = 16; n_slots < 2 * n_entries; n_slots *= 2)
                ;
        slots = calloc(n_slots, sizeof *slots);
        if (!slots) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n_entries; i++) {
                size_t *slot = slot_of(entries[i].name);
                /* The first line of a name is the one nss_files returns. */
                if (!*slot)
                        *slot = i + 1;
        }
        passwd_valid = true;
out:
        fclose(f);
        if (r < 0)
                entries_free();
        return r;
}

static void note_state(bool enabled, const char *why) {
        why_off = why;
        if (logged_state && logged_enabled == enabled)
                return;
        logged_state = true;
        logged_enabled = enabled;
        if (enabled)
                log_struct(LOG_INFO, LOG_MSGID_PASSWD_CACHE, NULL,
                           "Caching the entries of " PASSWD_FILE " between lookups (nsswitch.conf: files first)");
        else
                log_struct(LOG_INFO, LOG_MSGID_PASSWD_CACHE, NULL, "Not caching passwd entries: %s", why);
}

/* The checks of each lookup; lock held. Whether entries may answer. */
static bool refresh(void) {
        const char *path;
        file_id now;

        if (!nsswitch_path_set) {
                const char *test = getenv("ENRICH_TEST_NSSWITCH");
                nsswitch_path = test && *test ? strdup(test) : NULL;
                nsswitch_path_set = true;
        }
        path = nsswitch_path ? nsswitch_path : NSSWITCH_FILE;
        now = stat_id(path);
        if (!nsswitch_checked || !same_id(&now, &nsswitch_seen) || racy(&now)) {
                const char *why = NULL;

                sources_ok = now.exists && nsswitch_allows(path, &why);
                if (!now.exists)
                        why = "nsswitch.conf cannot be read";
                nsswitch_seen = now;
                nsswitch_checked = true;
                why_off = why;
        }
        if (!sources_ok) {
                entries_free();
                note_state(false, why_off);
                return false;
        }
        if (stat_id(NSCD_SOCKET).exists) {
                entries_free();
                note_state(false, "nscd is running");
                return false;
        }
        now = stat_id(PASSWD_FILE);
        if (!now.exists) {
                entries_free();
                note_state(false, PASSWD_FILE " cannot be read");
                return false;
        }
        /* Just changed: NSS answers until the times can be trusted (its
         * one lookup costs less than reading the whole file here). */
        if (racy(&now)) {
                entries_free();
                note_state(true, NULL);
                return false;
        }
        if (!passwd_valid || !same_id(&now, &passwd_seen)) {
                if (load_passwd() < 0) {
                        note_state(false, PASSWD_FILE " cannot be read whole");
                        return false;
                }
        }
        note_state(true, NULL);
        return true;
}

int passwd_cache_lookup(const char *name, struct passwd *pw, char **ret_buf) {
        size_t len[5], total = 0;
        const char *field[5];
        char *buf, *p;
        const entry *e;
        size_t *slot;
        int r = -ENOENT;

        if (!name || !*name || name[0] == '+' || name[0] == '-')
                return -ENOENT;
        pthread_mutex_lock(&lock);
        if (!refresh() || n_entries == 0)
                goto out;
        slot = slot_of(name);
        if (!*slot)
                goto out;
        e = &entries[*slot - 1];
        field[0] = e->name;
        field[1] = e->passwd;
        field[2] = e->gecos;
        field[3] = e->dir;
        field[4] = e->shell;
        for (int i = 0; i < 5; i++)
                total += (len[i] = strlen(field[i]) + 1);
        buf = malloc(total);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        p = buf;
        for (int i = 0; i < 5; i++) {
                memcpy(p, field[i], len[i]);
                p += len[i];
        }
        *pw = (struct passwd) { .pw_name = buf,
                                .pw_passwd = buf + len[0],
                                .pw_gecos = buf + len[0] + len[1],
                                .pw_dir = buf + len[0] + len[1] + len[2],
                                .pw_shell = buf + len[0] + len[1] + len[2] + len[3],
                                .pw_uid = e->uid,
                                .pw_gid = e->gid };
        *ret_buf = buf;
        r = 0;
out:
        pthread_mutex_unlock(&lock);
        return r;
}

void passwd_cache_drop(void) {
        pthread_mutex_lock(&lock);
        entries_free();
        nsswitch_checked = false;
        pthread_mutex_unlock(&lock);
}

bool passwd_cache_enabled(const char **ret_why) {
        bool enabled;

        pthread_mutex_lock(&lock);
        enabled = refresh();
        if (ret_why)
                *ret_why = enabled ? NULL : why_off;
        pthread_mutex_unlock(&lock);
        return enabled;
}

void passwd_cache_set_nsswitch(const char *path) {
        pthread_mutex_lock(&lock);
        free(nsswitch_path);
        nsswitch_path = path ? strdup(path) : NULL;
        nsswitch_path_set = true;
        nsswitch_checked = false;
        entries_free();
        pthread_mutex_unlock(&lock);
}
