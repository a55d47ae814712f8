/* paths.c: mkdir -p for the daemon's directories. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include "paths.h"

int mkdir_p(const char *path, mode_t mode) {
        char buf[PATH_MAX];
        size_t len = strlen(path);
        struct stat st;

        if (len == 0 || len >= sizeof buf)
                return -EINVAL;
        memcpy(buf, path, len + 1);
        for (char *p = buf + 1;; p++) {
                if (*p != '/' && *p != '\0')
                        continue;
                char saved = *p;
                *p = '\0';
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = saved;
                if (saved == '\0')
                        break;
        }
        if (stat(path, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int mkdir_parent(const char *file, mode_t mode) {
        char buf[PATH_MAX];
        char *slash;

        if (strlen(file) >= sizeof buf)
                return -ENAMETOOLONG;
        strcpy(buf, file);
        slash = strrchr(buf, '/');
        if (!slash || slash == buf)
                return 0;
        *slash = '\0';
        return mkdir_p(buf, mode);
}
