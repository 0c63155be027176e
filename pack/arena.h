/*
 * Region allocator: every allocation made to produce one result (one parsed
 * file, one generated virtual file) comes from one arena, freed whole.
 * Cleanups (cipher contexts, fds) ride on it with arena_defer().
 *
 * Not thread-safe: one arena belongs to one thread at a time.
 */
#ifndef PK_ARENA_H
#define PK_ARENA_H

#include <stddef.h>

typedef struct arena arena_t;

/* A new empty arena, or NULL when out of memory. */
arena_t *arena_new(void);

/* Frees every block and runs the deferred cleanups in reverse order. NULL-safe. */
void arena_free(arena_t *a);

/* n bytes aligned to 16, or NULL (out of memory, n overflowing, or the test failure point hit).
 * arena_zalloc also zeroes them. Memory lives until arena_free(). */
void *arena_alloc(arena_t *a, size_t n);
void *arena_zalloc(arena_t *a, size_t n);

/* n * size bytes, zeroed, or NULL when the product overflows. */
void *arena_calloc(arena_t *a, size_t n, size_t size);

/* A NUL-terminated copy of s[0..n) (arena_strdup: of all of s), or NULL. */
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_strdup(arena_t *a, const char *s);

/* Runs fn(arg) at arena_free(). Returns 0, or -ENOMEM (fn is then NOT run: the caller cleans up). */
int arena_defer(arena_t *a, void (*fn)(void *), void *arg);

/* Tests: make the n-th allocation from now on fail (1 = the next); 0 turns failures off. */
void arena_fail_after(arena_t *a, unsigned n);

/* Total bytes handed out so far (for memory accounting in tests and benchmarks). */
size_t arena_used(const arena_t *a);

#endif
