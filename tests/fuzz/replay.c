/* replay.c: runs a fuzz target's LLVMFuzzerTestOneInput on every file of
 * the folders given, without libFuzzer, so `make check` (gcc) and `make
 * asan` replay the committed corpus and every input that once crashed.
 * Prints one TAP line per folder, "ok fuzz-replay-TARGET-FOLDER (N inputs)";
 * a crash is a crash of this program, which tests/run.sh reports. With no
 * arguments it replays tests/fuzz/corpus/TARGET and
 * tests/fuzz/regressions/TARGET (run from the top of the tree). Set
 * ENRICH_FUZZ_VERBOSE to see which file is being replayed when one crashes. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET=\"name\""
#endif

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int replay_file(const char *path) {
        FILE *f = fopen(path, "rb");
        unsigned char *data = NULL;
        long size;

        if (!f)
                return -1;
        if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
            !(data = malloc((size_t) size + 1)) || fread(data, 1, (size_t) size, f) != (size_t) size) {
                free(data);
                fclose(f);
                return -1;
        }
        fclose(f);
        if (getenv("ENRICH_FUZZ_VERBOSE"))
                fprintf(stderr, "# replaying %s\n", path);
        LLVMFuzzerTestOneInput(data, (size_t) size);
        free(data);
        return 0;
}

/* Replays every regular file in dir in name order; a missing folder is
 * zero inputs. Returns the number replayed, or -1 when a file is unreadable. */
static int replay_dir(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *e;
        char **names = NULL, path[4096];
        size_t n = 0, cap = 0;
        int count = 0;

        if (!d)
                return 0;
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 64;
                        names = realloc(names, cap * sizeof *names);
                        if (!names)
                                abort();
                }
                names[n++] = strdup(e->d_name);
        }
        closedir(d);
        if (n)
                qsort(names, n, sizeof *names, compare);
        for (size_t i = 0; i < n; i++) {
                snprintf(path, sizeof path, "%s/%s", dir, names[i]);
                if (count >= 0)
                        count = replay_file(path) < 0 ? -1 : count + 1;
                free(names[i]);
        }
        free(names);
        return count;
}

int main(int argc, char **argv) {
        char corpus[256], regressions[256];
        char *defaults[] = { corpus, regressions };
        char **dirs = argv + 1;
        int n_dirs = argc - 1, failed = 0;

        snprintf(corpus, sizeof corpus, "tests/fuzz/corpus/%s", FUZZ_TARGET);
        snprintf(regressions, sizeof regressions, "tests/fuzz/regressions/%s", FUZZ_TARGET);
        if (n_dirs == 0) {
                dirs = defaults;
                n_dirs = 2;
        }
        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);
        for (int i = 0; i < n_dirs; i++) {
                int count = replay_dir(dirs[i]);
                if (count < 0) {
                        printf("not ok fuzz-replay-%s %s (unreadable input)\n", FUZZ_TARGET, dirs[i]);
                        failed = 1;
                } else
                        printf("ok fuzz-replay-%s %s (%d inputs)\n", FUZZ_TARGET, dirs[i], count);
        }
        return failed;
}
