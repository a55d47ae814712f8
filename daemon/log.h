/* log.h: the daemon's logging: structured journal entries (sd_journal_send
 * with a MESSAGE_ID per event kind and ENRICH_* fields), mirrored to stderr
 * when running in the foreground. */
#pragma once
#include <stdbool.h>
#include <syslog.h>

/* One MESSAGE_ID per kind of event, so admins can filter with
 * `journalctl MESSAGE_ID=...`. */
#define LOG_MSGID_STARTED        "04e34e5b3bc04e7c92b1b2d9987017a4"
#define LOG_MSGID_STOPPED        "0ae792c9477d4e7285a2f01a354d9618"
#define LOG_MSGID_CONFIG         "4a50e35b6c2949de9b1d51245dd1df33"
#define LOG_MSGID_SESSION_NEW    "13562a7abd4143d282916759a0aa9031"
#define LOG_MSGID_SESSION_END    "54c3b145cc154c75987dc94e6125b4e1"
#define LOG_MSGID_DENIED         "932298dbc73f4267b817202211968df0"
#define LOG_MSGID_DATABASE       "1492abc2264440559b0d240904faa955"
#define LOG_MSGID_KEY            "e75d6e0a3b76420997fcb30fbfd668fd"
#define LOG_MSGID_CLIENT         "1121633b2ac149df879a91445915d10c"

/* With foreground, every message also goes to stderr. */
void log_setup(bool foreground);

/* Logs a message with priority and an optional message_id. fields is NULL
 * or a NULL-terminated list of alternating names and values
 * ("ENRICH_SID", sid, ...); a pair whose value is NULL is left out. */
void log_struct(int priority, const char *message_id, const char *const *fields,
                const char *format, ...) __attribute__((format(printf, 4, 5)));

#define log_error(...)   log_struct(LOG_ERR, NULL, NULL, __VA_ARGS__)
#define log_warning(...) log_struct(LOG_WARNING, NULL, NULL, __VA_ARGS__)
#define log_notice(...)  log_struct(LOG_NOTICE, NULL, NULL, __VA_ARGS__)
#define log_info(...)    log_struct(LOG_INFO, NULL, NULL, __VA_ARGS__)
#define log_debug(...)   log_struct(LOG_DEBUG, NULL, NULL, __VA_ARGS__)
