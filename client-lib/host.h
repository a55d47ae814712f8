/* host.h: facts about this host and processes that claims are bound to. */
#pragma once
#include <stdint.h>
#include <sys/types.h>

#define HOST_AUDIT_SESSION_UNSET UINT32_MAX

/* This host's machine-id (32 hex characters), from /etc/machine-id. */
int host_machine_id(char **ret);
/* Audit session id of pid (0: self). -ENODATA when unset. */
int host_audit_session(pid_t pid, uint32_t *ret);
/* Milliseconds on CLOCK_MONOTONIC. */
int64_t host_now_ms(void);
/* Milliseconds left until deadline (a host_now_ms() value), 0 when it has
 * passed, at most INT_MAX: a poll() timeout. */
int host_remaining_ms(int64_t deadline);
