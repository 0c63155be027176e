/*
 * What every fuzz target shares (tests/fuzz/README.md). A target is one function,
 * LLVMFuzzerTestOneInput, built two ways: with clang's libFuzzer (`make fuzz`), and with
 * gcc and ASan/UBSan around replay_main.c (`make check` replays the committed corpus and
 * regression files through tests/integration/fuzz_replay.sh).
 *
 * A target feeds the bytes to one parser or writer exactly as ismfs would, then checks what
 * the headers promise of the result (FUZZ_CHECK): a broken promise aborts like a sanitizer
 * report does, so the fuzzer keeps the input.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../pack/bytes.h"
#include "../../pack/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                    \
        }                                                                               \
    } while (0)

/* Log lines are formatted (a bad format argument is a bug the sanitizers should see) at
 * every level, then dropped: millions of inputs would otherwise flood the terminal. */
static inline void fuzz_log_sink(int level, const char *func, const char *msg, void *ctx)
{
    (void)level, (void)ctx;
    volatile size_t n = strlen(func) + strlen(msg);
    (void)n;
}

static inline void fuzz_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    pk_log_level = PK_LOG_DEBUG;     /* every log line formatted: its arguments are checked too */
    if (!getenv("FUZZ_VERBOSE"))
        pk_log_set_sink(fuzz_log_sink, NULL);
}

/* Reading the input as fields, front to back; past the end every field is 0. */
typedef struct {
    const uint8_t *p, *end;
} fuzz_in_t;

static inline uint32_t fuzz_take(fuzz_in_t *in, unsigned bytes)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v = v << 8 | (in->p < in->end ? *in->p++ : 0);
    return v;
}

static inline size_t fuzz_left(const fuzz_in_t *in)
{
    return (size_t)(in->end - in->p);
}

#endif
