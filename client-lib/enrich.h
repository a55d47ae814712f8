/* enrich.h: public API of libenrich.
 *
 * Read and verify the enrich claims token of the calling login session, as
 * docs/contract.md's verifier rules say, and ask claims questions of it. */
#ifndef ENRICH_H
#define ENRICH_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: 0 is success, every failure is one of these (positive). */
enum {
        ENRICH_OK = 0,
        ENRICH_E_NO_CLAIMS,      /* no claims key in this session keyring */
        ENRICH_E_EXPIRED,        /* token or key expired */
        ENRICH_E_REVOKED,        /* key revoked */
        ENRICH_E_BAD_SIGNATURE,  /* signature does not verify */
        ENRICH_E_UNKNOWN_KEY,    /* kid not in the JWKS */
        ENRICH_E_WRONG_HOST,     /* aud is not this host's machine-id */
        ENRICH_E_WRONG_USER,     /* uid is not the caller's uid */
        ENRICH_E_WRONG_SESSION,  /* asid is not the caller's audit session */
        ENRICH_E_UNREACHABLE,    /* daemon socket missing, refusing or silent */
        ENRICH_E_MALFORMED,      /* not a compact EdDSA JWS with our claims */
        ENRICH_E_NOT_YET_VALID,  /* nbf in the future */
        ENRICH_E_NO_JWKS,        /* public keys cannot be read */
        ENRICH_E_NOMEM,
        ENRICH_E_SYSTEM,         /* unexpected system error; see errno */
        ENRICH_E_INVALID,        /* bad argument */
        _ENRICH_E_MAX
};

#define ENRICH_DEFAULT_JWKS   "/run/enrich/jwks.json"
#define ENRICH_DEFAULT_SOCKET "/run/enrich/io.enrich"

typedef struct enrich_claims enrich_claims;

/* Finds the caller's claims key in its session keyring, reads it and
 * verifies it against the JWKS at $ENRICH_JWKS, else the default path.
 * On success *ret is an object the caller frees with enrich_claims_free();
 * loads of one token may return the same (unchanging) object, shared by
 * reference count, each return to be freed once. */
int enrich_claims_load(enrich_claims **ret);

/* As enrich_claims_load(), with an explicit JWKS path (NULL: as above). */
int enrich_claims_load_jwks(const char *jwks_path, enrich_claims **ret);

/* Verifies a token string with the same rules, for the calling process
 * (uid, audit session) and this host. */
int enrich_claims_verify(const char *token, const char *jwks_path, enrich_claims **ret);

/* 1 when held, 0 when not (or claims is NULL). */
int enrich_claims_has_scope(const enrich_claims *claims, const char *scope);
int enrich_claims_in_group(const enrich_claims *claims, const char *group);

/* Accessors. Strings belong to the claims object; NULL when absent. */
const char *enrich_claims_subject(const enrich_claims *claims);
uid_t enrich_claims_uid(const enrich_claims *claims);
time_t enrich_claims_expiry(const enrich_claims *claims);
time_t enrich_claims_issued_at(const enrich_claims *claims);
const char *enrich_claims_tenant(const enrich_claims *claims);
const char *enrich_claims_session_id(const enrich_claims *claims);
const char *enrich_claims_issuer(const enrich_claims *claims);
const char *enrich_claims_scope(const enrich_claims *claims);   /* space-separated */
size_t enrich_claims_amr_count(const enrich_claims *claims);
const char *enrich_claims_amr(const enrich_claims *claims, size_t index);
size_t enrich_claims_group_count(const enrich_claims *claims);
const char *enrich_claims_group(const enrich_claims *claims, size_t index);
/* The whole payload as JSON text, and the raw compact token. */
const char *enrich_claims_json(const enrich_claims *claims);
const char *enrich_claims_token(const enrich_claims *claims);

void enrich_claims_free(enrich_claims *claims);

/* Asks the daemon for its status: ENRICH_OK when it answers within
 * timeout_ms, ENRICH_E_UNREACHABLE when not. socket_path NULL means
 * $ENRICH_SOCKET, else the default. */
int enrich_ping(const char *socket_path, int timeout_ms);

/* A static, human-readable message for an error code. */
const char *enrich_strerror(int error);

#ifdef __cplusplus
}
#endif
#endif
