/* util.c: small helpers shared by the module, the daemon and the CLI. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

void free_secret(void *p, size_t len) {
        if (!p)
                return;
        explicit_bzero(p, len);
        free(p);
}

int parse_uint(const char *s, unsigned long max, unsigned long *ret) {
        char *end = NULL;
        unsigned long v;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno == ERANGE || v > max)
                return -ERANGE;
        if (*end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

int read_fd_bounded(int fd, size_t max, char **ret, size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0;
        int r;

        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + len, max + 1 - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto out;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max) {
                        r = -EFBIG;
                        goto out;
                }
        }
        buf[len] = '\0';
        *ret = buf;
        buf = NULL;
        if (ret_len)
                *ret_len = len;
        r = 0;
out:
        free(buf);
        return r;
}

int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_len) {
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        r = read_fd_bounded(fd, max, ret, ret_len);
        close(fd);
        return r;
}

/* Makes a rename into path's directory durable: without it a crash can
 * bring back the old file, or none. */
static int fsync_parent(const char *path) {
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');
        int fd, r = 0;

        if (!slash)
                strcpy(dir, ".");
        else if (slash == path)
                strcpy(dir, "/");
        else if ((size_t) (slash - path) >= sizeof dir)
                return -ENAMETOOLONG;
        else {
                memcpy(dir, path, (size_t) (slash - path));
                dir[slash - path] = '\0';
        }
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
        char tmp[PATH_MAX];
        const char *p = data;
        int fd = -1, r;

        if ((size_t) snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= sizeof(tmp))
                return -ENAMETOOLONG;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                p += n;
                len -= (size_t) n;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (close(fd) < 0) {
                fd = -1;
                r = -errno;
                goto fail;
        }
        fd = -1;
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        return fsync_parent(path);
fail:
        if (fd >= 0)
                close(fd);
        unlink(tmp);
        return r;
}

int lookup_uid(const char *user, uid_t *ret) {
        struct passwd pw, *result = NULL;
        char buf[4096];
        int r;

        if (!user)
                return -EINVAL;
        r = getpwnam_r(user, &pw, buf, sizeof(buf), &result);
        if (r != 0)
                return -r;
        if (!result)
                return -ENOENT;
        *ret = pw.pw_uid;
        return 0;
}

int format_error(char **ret_error, const char *format, ...) {
        va_list ap;

        if (!ret_error)
                return 0;
        va_start(ap, format);
        if (vasprintf(ret_error, format, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return 0;
}

/* The length of a terminal or bidi control at p (text_has_controls), 0 for
 * any other character. Each byte is compared before the next is read. */
static size_t control_length(const unsigned char *p) {
        if (p[0] < 0x20 || p[0] == 0x7f)
                return 1;
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
                return 2;
        if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0x8e || p[2] == 0x8f || (p[2] >= 0xaa && p[2] <= 0xae)))
                return 3;
        if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
                return 3;
        return 0;
}

bool text_has_controls(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; p && *p; p++)
                if (control_length(p) > 0)
                        return true;
        return false;
}

bool fleet_name_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("-_.", s[i]))
                        return false;
        return true;
}

typedef struct background_start {
        void *(*fn)(void *);
        void *arg;
} background_start;

static void *background_run(void *userdata) {
        background_start start = *(background_start *) userdata;

        free(userdata);
        (void) setpriority(PRIO_PROCESS, (id_t) gettid(), BACKGROUND_THREAD_NICE);
        return start.fn(start.arg);
}

int background_thread_start(pthread_t *ret, void *(*fn)(void *), void *arg) {
        background_start *start = malloc(sizeof *start);
        sigset_t all, old;
        int r;

        if (!start)
                return -ENOMEM;
        *start = (background_start) { .fn = fn, .arg = arg };
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = pthread_create(ret, NULL, background_run, start);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0)
                free(start);
        return -r;
}

file_version file_version_of(const struct stat *st) {
        return (file_version) {
                .dev = st->st_dev,
                .ino = st->st_ino,
                .nlink = st->st_nlink,
                .size = st->st_size,
                .mtime = st->st_mtim,
                .ctime = st->st_ctim,
        };
}

bool file_version_equal(const file_version *a, const file_version *b) {
        return a->dev == b->dev && a->ino == b->ino && a->nlink == b->nlink && a->size == b->size &&
               a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
               a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}
