/* test_passwd_cache.c: the passwd cache answers only where NSS's answer
 * is /etc/passwd's (nsswitch.conf's passwd line "files" or "files
 * systemd", no [action]), and then exactly as getpwnam_r does; a name the
 * file lacks is never answered (no negative entries). */
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "passwd_cache.h"
#include "../tap.h"

static char dir[] = "/tmp/test_passwd_cache.XXXXXX";

/* Points the cache at an nsswitch.conf holding text. */
static void use_nsswitch(const char *text) {
        char path[64];
        FILE *f;

        snprintf(path, sizeof path, "%s/nsswitch.conf", dir);
        f = fopen(path, "we");
        if (f) {
                fputs(text, f);
                fclose(f);
        }
        passwd_cache_set_nsswitch(path);
}

static bool same_entry(const struct passwd *a, const struct passwd *b) {
        return strcmp(a->pw_name, b->pw_name) == 0 && strcmp(a->pw_passwd, b->pw_passwd) == 0 &&
               a->pw_uid == b->pw_uid && a->pw_gid == b->pw_gid && strcmp(a->pw_gecos, b->pw_gecos) == 0 &&
               strcmp(a->pw_dir, b->pw_dir) == 0 && strcmp(a->pw_shell, b->pw_shell) == 0;
}

int main(void) {
        struct passwd pw, nss, *found;
        char *buf = NULL, nssbuf[16384];
        const char *why = NULL;
        bool all_same = true, any = false;
        FILE *f;

        CHECK(passwd_cache_sources_ok(" files"), "sources-files");
        CHECK(passwd_cache_sources_ok("  files   systemd  "), "sources-files-systemd");
        CHECK(!passwd_cache_sources_ok(" files sss"), "sources-sss-refused");
        CHECK(!passwd_cache_sources_ok(" files ldap"), "sources-ldap-refused");
        CHECK(!passwd_cache_sources_ok(" files winbind"), "sources-winbind-refused");
        CHECK(!passwd_cache_sources_ok(" sss files"), "sources-files-not-first-refused");
        CHECK(!passwd_cache_sources_ok(" systemd files"), "sources-systemd-first-refused");
        CHECK(!passwd_cache_sources_ok(" files [NOTFOUND=return] systemd"), "sources-action-refused");
        CHECK(!passwd_cache_sources_ok(" files systemd sss"), "sources-third-refused");
        CHECK(!passwd_cache_sources_ok(" compat"), "sources-compat-refused");
        CHECK(!passwd_cache_sources_ok(""), "sources-empty-refused");

        if (!mkdtemp(dir)) {
                CHECK(false, "tempdir");
                TAP_EXIT();
        }
        use_nsswitch("# comment\npasswd: files sss\ngroup: files\n");
        CHECK(!passwd_cache_enabled(&why) && why, "off-with-sss");
        CHECK(passwd_cache_lookup("root", &pw, &buf) == -ENOENT, "off-answers-nothing");
        use_nsswitch("passwd: files systemd\npasswd: files\n");
        CHECK(!passwd_cache_enabled(NULL), "off-with-two-passwd-lines");
        use_nsswitch("group: files\n");
        CHECK(!passwd_cache_enabled(NULL), "off-without-passwd-line");

        use_nsswitch("passwd:         files systemd # as Debian\ngroup: files systemd\n");
        if (!passwd_cache_enabled(&why)) {
                /* Another test's useradd a moment ago, or nscd. */
                SKIP("on-matches-nss", why ? why : "off");
                SKIP("on-no-negative-entries", why ? why : "off");
        } else {
                f = fopen("/etc/passwd", "re");
                while (f && fgetpwent_r(f, &nss, nssbuf, sizeof nssbuf, &found) == 0) {
                        struct passwd expected;
                        char expected_buf[16384];
                        struct passwd *e = NULL;

                        if (nss.pw_name[0] == '+' || nss.pw_name[0] == '-')
                                continue;
                        if (getpwnam_r(nss.pw_name, &expected, expected_buf, sizeof expected_buf, &e) != 0 || !e)
                                continue;
                        if (passwd_cache_lookup(nss.pw_name, &pw, &buf) == 0) {
                                any = true;
                                all_same = all_same && same_entry(&pw, e);
                                free(buf);
                                buf = NULL;
                        } else if (passwd_cache_enabled(NULL))
                                all_same = false;
                }
                if (f)
                        fclose(f);
                CHECK(any && all_same, "on-matches-nss");
                CHECK(passwd_cache_lookup("no-such-user-passwd-cache", &pw, &buf) == -ENOENT, "on-no-negative-entries");
        }
        passwd_cache_drop();
        unlink(strcat(strcpy(nssbuf, dir), "/nsswitch.conf"));
        rmdir(dir);
        TAP_EXIT();
}
