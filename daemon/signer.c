/* signer.c: Ed25519 key management with OpenSSL EVP. The PEM text of the
 * private key only ever lives in OpenSSL secure memory or in buffers that are
 * wiped before they are freed. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "jwks.h"
#include "jws.h"
#include "log.h"
#include "paths.h"
#include "signer.h"
#include "util.h"

#define KEY_FILE_MAX 4096

struct signer {
        EVP_PKEY *key;
        char *kid;
};

static int write_all(int fd, const char *data, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, data, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                data += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Generates a key and stores it at path. The file is created 0600 with
 * O_EXCL under a temporary name and hard-linked into place, so a concurrent
 * start never overwrites a key another instance already uses (-EEXIST). */
static int generate_key(const char *path, EVP_PKEY **ret, char **ret_error) {
        EVP_PKEY *key = NULL;
        BIO *bio = NULL;
        BUF_MEM *pem = NULL;
        char tmp[PATH_MAX];
        int fd = -1, r;

        if ((size_t) snprintf(tmp, sizeof tmp, "%s.new", path) >= sizeof tmp)
                return -ENAMETOOLONG;
        key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        if (!key) {
                format_error(ret_error, "Failed to generate Ed25519 key");
                r = -EIO;
                goto out;
        }
        bio = BIO_new(BIO_s_secmem());
        if (!bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
                format_error(ret_error, "Failed to encode signing key");
                r = -EIO;
                goto out;
        }
        BIO_get_mem_ptr(bio, &pem);
        (void) unlink(tmp);   /* a leftover of a crash during creation */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                r = -errno;
                format_error(ret_error, "Failed to create %s: %s", tmp, strerror(errno));
                goto out;
        }
        r = write_all(fd, pem->data, pem->length);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        fd = -1;
        if (r == 0 && link(tmp, path) < 0)
                r = -errno;
        (void) unlink(tmp);
        if (r < 0) {
                if (r != -EEXIST)
                        format_error(ret_error, "Failed to write signing key %s: %s", path, strerror(-r));
                goto out;
        }
        *ret = key;
        key = NULL;
out:
        if (fd >= 0)
                close(fd);
        BIO_free(bio);   /* secure memory is cleansed on free */
        EVP_PKEY_free(key);
        return r;
}

static int load_key(const char *path, EVP_PKEY **ret, char **ret_error) {
        char *pem = NULL;
        size_t len = 0;
        BIO *bio = NULL;
        EVP_PKEY *key = NULL;
        struct stat st;
        int fd = -1, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                r = -errno;
                if (r != -ENOENT)
                        format_error(ret_error, "Failed to open signing key %s: %s", path, strerror(errno));
                goto out;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto out;
        }
        /* A key others could have read may have leaked: refuse rather than
         * keep signing with it. One its owner may not read (mode 0000) is
         * refused too, also when root could read it anyway: what the
         * unprivileged daemon could not open must not work in tests. */
        if (!S_ISREG(st.st_mode) || (st.st_mode & 077) || !(st.st_mode & S_IRUSR) || st.st_uid != geteuid()) {
                format_error(ret_error,
                             "Refusing signing key %s: it must be a regular file owned by uid %u "
                             "with mode 0600 (found mode %04o, owner %u)",
                             path, (unsigned) geteuid(), (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid);
                r = -EPERM;
                goto out;
        }
        r = read_file_bounded(path, KEY_FILE_MAX, &pem, &len);
        if (r < 0) {
                format_error(ret_error, "Failed to read signing key %s: %s", path, strerror(-r));
                goto out;
        }
        bio = BIO_new_mem_buf(pem, (int) len);
        if (bio)
                key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
                format_error(ret_error, "Signing key %s is not a PEM Ed25519 private key", path);
                r = -EBADMSG;
                goto out;
        }
        *ret = key;
        key = NULL;
        r = 0;
out:
        if (fd >= 0)
                close(fd);
        BIO_free(bio);
        free_secret(pem, len);
        EVP_PKEY_free(key);
        return r;
}

/* Loads the key; when it does not exist, generates one if may_generate,
 * else fails with -ENOENT and says so. An existing key is never replaced,
 * whatever is wrong with it. */
static int open_key(const char *state_dir, bool may_generate, signer **ret, char **ret_error) {
        char path[PATH_MAX];
        signer *s = NULL;
        int r;

        if ((size_t) snprintf(path, sizeof path, "%s/%s", state_dir, SIGNER_KEY_FILE) >= sizeof path)
                return -ENAMETOOLONG;
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        r = load_key(path, &s->key, ret_error);
        if (r == -ENOENT && !may_generate)
                format_error(ret_error,
                             "Signing key %s is missing, but %s is not a fresh state directory: "
                             "refusing to generate a new key in its place. Restore the key from a backup; or, "
                             "to start over with a new key deliberately (tokens signed by the old one stop "
                             "verifying), create one as the daemon's user: openssl genpkey -algorithm ed25519 "
                             "-out %s && chmod 0600 %s",
                             path, state_dir, path, path);
        else if (r == -ENOENT) {
                r = generate_key(path, &s->key, ret_error);
                if (r == -EEXIST)   /* another instance won the race: use its key */
                        r = load_key(path, &s->key, ret_error);
                else if (r == 0)
                        log_struct(LOG_NOTICE, LOG_MSGID_KEY, (const char *[]) { "ENRICH_KEY_FILE", path, NULL },
                                   "Generated a new Ed25519 signing key in %s", path);
        }
        if (r < 0)
                goto out;
        r = jwk_thumbprint(s->key, &s->kid);
        if (r < 0) {
                format_error(ret_error, "Failed to compute key id: %s", strerror(-r));
                goto out;
        }
        *ret = s;
        s = NULL;
out:
        signer_free(s);
        return r;
}

int signer_open(const char *state_dir, signer **ret, char **ret_error) {
        return open_key(state_dir, true, ret, ret_error);
}

int signer_load(const char *state_dir, signer **ret, char **ret_error) {
        return open_key(state_dir, false, ret, ret_error);
}

static int key_path(const char *state_dir, const char *name, char path[PATH_MAX]) {
        return (size_t) snprintf(path, PATH_MAX, "%s/%s", state_dir, name) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

int signer_rotate_prepare(const char *state_dir, signer **ret, char **ret_error) {
        char path[PATH_MAX];
        signer *s = NULL;
        int r;

        if ((r = key_path(state_dir, SIGNER_NEXT_KEY_FILE, path)) < 0)
                return r;
        (void) unlink(path);    /* a rotation a crash interrupted: never used */
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        r = generate_key(path, &s->key, ret_error);
        if (r == 0 && (r = jwk_thumbprint(s->key, &s->kid)) < 0) {
                format_error(ret_error, "Failed to compute key id: %s", strerror(-r));
                (void) unlink(path);
        }
        if (r < 0) {
                if (r == -EEXIST)
                        format_error(ret_error, "Another rotation is writing %s", path);
                signer_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

int signer_rotate_commit(const char *state_dir, char **ret_error) {
        char next[PATH_MAX], path[PATH_MAX];
        int r, dir;

        if ((r = key_path(state_dir, SIGNER_NEXT_KEY_FILE, next)) < 0 ||
            (r = key_path(state_dir, SIGNER_KEY_FILE, path)) < 0)
                return r;
        if (rename(next, path) < 0) {
                r = -errno;
                format_error(ret_error, "Failed to put the new signing key in place (%s): %s", path, strerror(errno));
                return r;
        }
        /* The rename is done: there is no going back. A failed sync only
         * leaves the rename to the kernel's own writeback. */
        dir = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0 || fsync(dir) < 0)
                log_warning_errno(-errno, "Failed to sync %s after replacing the signing key", state_dir);
        if (dir >= 0)
                close(dir);
        return 0;
}

int signer_load_next(const char *state_dir, signer **ret, char **ret_error) {
        char path[PATH_MAX];
        signer *s;
        int r;

        if ((r = key_path(state_dir, SIGNER_NEXT_KEY_FILE, path)) < 0)
                return r;
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        r = load_key(path, &s->key, ret_error);
        if (r == 0 && (r = jwk_thumbprint(s->key, &s->kid)) < 0)
                format_error(ret_error, "Failed to compute key id: %s", strerror(-r));
        if (r < 0) {
                signer_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

void signer_rotate_abort(const char *state_dir) {
        char path[PATH_MAX];

        if (key_path(state_dir, SIGNER_NEXT_KEY_FILE, path) == 0)
                (void) unlink(path);
}

int signer_public_jwk(const signer *s, json_t **ret) {
        return jwk_from_key(s->key, s->kid, ret);
}

const char *signer_kid(const signer *s) {
        return s->kid;
}

int signer_sign(const signer *s, const char *payload, char **ret_token) {
        return jws_sign_text(s->key, s->kid, SIGNER_TOKEN_TYPE, payload, ret_token);
}

int signer_sign_typed(const signer *s, const char *typ, json_t *payload, char **ret_token) {
        return jws_sign(s->key, s->kid, typ, payload, ret_token);
}

int signer_sign_bytes(const signer *s, const void *data, size_t len,
                      unsigned char ret_signature[SIGNER_SIGNATURE_LENGTH]) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        size_t length = SIGNER_SIGNATURE_LENGTH;
        int r = 0;

        if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->key) != 1 ||
            EVP_DigestSign(ctx, ret_signature, &length, data, len) != 1 || length != SIGNER_SIGNATURE_LENGTH)
                r = -EIO;
        EVP_MD_CTX_free(ctx);
        return r;
}

int signer_dup(const signer *s, signer **ret) {
        signer *copy = calloc(1, sizeof *copy);

        if (!copy)
                return -ENOMEM;
        copy->key = EVP_PKEY_dup(s->key);
        copy->kid = strdup(s->kid);
        if (!copy->key || !copy->kid) {
                signer_free(copy);
                return -ENOMEM;
        }
        *ret = copy;
        return 0;
}

void signer_free(signer *s) {
        if (!s)
                return;
        EVP_PKEY_free(s->key);   /* OpenSSL cleanses the key material */
        free(s->kid);
        free(s);
}
