/* log.h: the daemon's logging: structured journal entries (sd_journal_send
 * with a MESSAGE_ID per event kind and ENRICH_* fields), mirrored to stderr
 * when running in the foreground. */
#pragma once
#include <stdbool.h>
#include <string.h>
#include <syslog.h>

/* One MESSAGE_ID per kind of event, so admins can filter with
 * `journalctl MESSAGE_ID=...`. */
#define LOG_MSGID_STARTED     "04e34e5b3bc04e7c92b1b2d9987017a4"
#define LOG_MSGID_STOPPED     "0ae792c9477d4e7285a2f01a354d9618"
#define LOG_MSGID_CONFIG      "4a50e35b6c2949de9b1d51245dd1df33"
#define LOG_MSGID_SESSION_NEW "13562a7abd4143d282916759a0aa9031"
#define LOG_MSGID_SESSION_END "54c3b145cc154c75987dc94e6125b4e1"
#define LOG_MSGID_DENIED      "932298dbc73f4267b817202211968df0"
#define LOG_MSGID_DATABASE    "1492abc2264440559b0d240904faa955"
#define LOG_MSGID_KEY         "e75d6e0a3b76420997fcb30fbfd668fd"
#define LOG_MSGID_CLIENT      "1121633b2ac149df879a91445915d10c"

/* Audit events (audit.c): one MESSAGE_ID per audited action, each entry
 * carrying ENRICH_ACTION, ENRICH_RESULT, ENRICH_AUDIT_ID, ENRICH_ACTOR and,
 * when known, ENRICH_USER, ENRICH_SID, ENRICH_JTI. Listed in
 * docs/admin-guide.md. */
#define LOG_MSGID_AUDIT_ENRICH_ISSUED     "0c39e916ff874308871c1445b254d53e"
#define LOG_MSGID_AUDIT_ENRICH_REFUSED    "dfcb211c32a64c46b3fb02ae5fa2f163"
#define LOG_MSGID_AUDIT_SESSION_REFRESHED "df314e3eb23a46b88c1a86dab50b8bda"
#define LOG_MSGID_AUDIT_SESSION_REVOKED   "6b332559a57f4d66be61becea914b93e"
#define LOG_MSGID_AUDIT_SESSION_ENDED     "280d55015c2242438ba04a0bcace5841"
#define LOG_MSGID_AUDIT_GRANT_CREATED     "1b24a97245914b92b4e7a0cde428ae7d"
#define LOG_MSGID_AUDIT_GRANT_REVOKED     "17218f52bba94e21a5b093976b16e01f"
#define LOG_MSGID_AUDIT_GRANT_EXPIRED     "ce4f4a5289594afeafc232617a5a5d24"
#define LOG_MSGID_AUDIT_REQUEST_CREATED   "9cea90eac92a4b8e9e924644772bdf26"
#define LOG_MSGID_AUDIT_REQUEST_APPROVED  "003fab753dba499b8fbb3ea5414fc21b"
#define LOG_MSGID_AUDIT_REQUEST_DENIED    "198c34fd516a47d698183a25b298325b"
#define LOG_MSGID_AUDIT_REQUEST_EXPIRED   "e2774777856a43d88abb4a28142e1185"
#define LOG_MSGID_AUDIT_TOKEN_ISSUED      "9a2ecf11f9ff4103be819635bcf98967"
#define LOG_MSGID_AUDIT_TOKEN_USED        "653f78dfe0b24f6985c2cd96b8e18f73"
#define LOG_MSGID_AUDIT_TOKEN_REJECTED    "1f7238fa1bc043aeaf94190c67318f66"
#define LOG_MSGID_AUDIT_TOKEN_REVOKED     "56b34d5457164c6b907f1d25e8fdedca"
#define LOG_MSGID_AUDIT_TOKEN_ROTATED     "9e9300bc11ad4f69a695746204033ce4"
#define LOG_MSGID_AUDIT_TOKEN_UNLOCKED    "1124267c38684228bf7011082cb6d48d"
#define LOG_MSGID_AUDIT_IDENTITY_DISABLED "3fb937c349584bc396f90e1fd5b7aa37"
#define LOG_MSGID_AUDIT_IDENTITY_ENABLED  "80e5f77e388d477fa1dfa755bda12976"
#define LOG_MSGID_AUDIT_LOGIN_REFUSED     "ef1dd7991e274f16947542803e3a4514"
#define LOG_MSGID_AUDIT_PERMISSION_DENIED "c57ee3c1451043fda5b8a91c5a617bc1"
#define LOG_MSGID_AUDIT_CONFIG_RELOADED   "a1eeecd48ea24efd9eb24f82cba95651"
#define LOG_MSGID_AUDIT_CONFIG_REJECTED   "f4ce69485eec4f058060dba5fd14c718"
#define LOG_MSGID_AUDIT_KEY_ROTATED       "73a44cdb552d40d19a1d9bafef031750"
#define LOG_MSGID_AUDIT_FLEET_ENROLLED    "563855ea6b4c4c75b2d79781e9980e60"
#define LOG_MSGID_AUDIT_AUDIT_CHECKPOINT  "a8f03adea3a841c6b46e36b32ed3d2c4"
#define LOG_MSGID_AUDIT_AUDIT_FAILURE     "f2d9a6bb6e0647699c3df8b42f333bfd"

/* With foreground, every message also goes to stderr. */
void log_setup(bool foreground);

/* Logs a message with priority and an optional message_id. fields is NULL
 * or a NULL-terminated list of alternating names and values
 * ("ENRICH_SID", sid, ...); a pair whose value is NULL is left out. */
void log_struct(int priority, const char *message_id, const char *const *fields, const char *format, ...)
        __attribute__((format(printf, 4, 5)));

#define log_error(...)   log_struct(LOG_ERR, NULL, NULL, __VA_ARGS__)
#define log_warning(...) log_struct(LOG_WARNING, NULL, NULL, __VA_ARGS__)
#define log_notice(...)  log_struct(LOG_NOTICE, NULL, NULL, __VA_ARGS__)
#define log_info(...)    log_struct(LOG_INFO, NULL, NULL, __VA_ARGS__)
#define log_debug(...)   log_struct(LOG_DEBUG, NULL, NULL, __VA_ARGS__)

/* Logs "format: strerror(-error)" and evaluates to error, a negative errno,
 * so a caller can write `return log_error_errno(r, "Failed to ...")`, as
 * systemd's log_error_errno. The format must be a string literal. For an
 * errno just set, pass -errno. */
#define log_struct_errno(priority, message_id, error, format, ...) \
        ({ \
                const int log_errno_value_ = (error); \
                log_struct((priority), (message_id), NULL, format ": %s", ##__VA_ARGS__, strerror(-log_errno_value_)); \
                log_errno_value_; \
        })
#define log_errno(priority, error, ...) log_struct_errno(priority, NULL, error, __VA_ARGS__)

#define log_error_errno(error, ...)   log_errno(LOG_ERR, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_errno(LOG_WARNING, error, __VA_ARGS__)
