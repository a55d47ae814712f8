/* paths.h: creating the daemon's directories (state, runtime, JWKS). */
#pragma once
#include <sys/types.h>

/* Creates path and any missing parents with mode (an existing directory is
 * left as it is). 0 or negative errno. */
int mkdir_p(const char *path, mode_t mode);
/* Creates the directory that will contain file, as mkdir_p. */
int mkdir_parent(const char *file, mode_t mode);
