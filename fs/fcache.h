/*
 * A file cache: a bounded, reference-counted, approximately least-recently-used table of
 * things built from files (parsed filter files, CPIX documents, assets), keyed by a string
 * (a path). The part fs/filters.c, fs/keys.c and fs/assets.c share; each keeps its own
 * rules for when an entry is out of date and how one is built.
 *
 * An owner embeds an fs_fcache_entry_t in its entry (FS_FCACHE_OWNER gets back to it),
 * builds entries outside the cache (reading storage may be slow: the lock is never held
 * across it) and puts them in. Every entry has references: the caller of fs_fcache_get or
 * fs_fcache_put holds one until fs_fcache_release. An entry leaves the table when a newer
 * one of its key is put (replaced), when fs_fcache_drop takes it out (its owner found it
 * out of date), or when the table holds more than `max` entries (evicted: the least
 * recently used one nobody holds, at most one per put: with every entry held the table
 * grows past `max`, and shrinks back by one per later put). It is destroyed, by the owner's destroy function, once it is
 * out of the table and nobody holds it: never while a reference remains, so a request
 * keeps the version it got until it ends.
 *
 * Thread safety: one mutex per cache guards the table, references and stamps; the owner's
 * destroy runs outside it. All functions but fs_fcache_init and fs_fcache_fini may be
 * called from any thread. Nothing here allocates: no function fails.
 */
#ifndef FS_FCACHE_H
#define FS_FCACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* The identity of a file: a change of any field is another version. */
typedef struct fs_fcache_id {
    uint64_t dev, ino, size;
    int64_t mtime_ns;
} fs_fcache_id_t;

typedef struct fs_fcache_entry {
    const char *key;            /* set by the owner before fs_fcache_put; owned by the
                                 * owner's entry, which outlives it */
    fs_fcache_id_t id;          /* the version the entry was built from, set by the owner
                                 * (fs_fcache_get compares it; left 0 when unused) */
    /* private to fs/fcache.c, guarded by the cache lock */
    struct fs_fcache *cache;
    struct fs_fcache_entry *next;
    unsigned refs;
    int out;                    /* not in the table: destroyed at the last release */
    uint64_t used;              /* LRU stamp (the cache's clock) */
    uint64_t seq;               /* when it entered the table (the cache's seq) */
} fs_fcache_entry_t;

typedef struct fs_fcache {
    pthread_mutex_t lock;
    fs_fcache_entry_t *head;    /* the table (a list: max is small, lookups are rare
                                 * next to the work an entry saves) */
    uint32_t count;             /* entries in the table */
    uint32_t max;
    uint64_t clock;             /* LRU clock */
    uint64_t seq;               /* entries put in the table so far */
    void (*destroy)(fs_fcache_entry_t *e);
} fs_fcache_t;

/* The owner's struct of entry e, whose fs_fcache_entry_t member is `member`. */
#define FS_FCACHE_OWNER(e, type, member) ((type *)(void *)((char *)(e) - offsetof(type, member)))

/* An empty cache of at most max entries (see above); destroy frees an entry the cache
 * gives up (called outside the lock). */
void fs_fcache_init(fs_fcache_t *c, uint32_t max, void (*destroy)(fs_fcache_entry_t *e));

/* Destroys every entry of the table; the entries must not be held any more. */
void fs_fcache_fini(fs_fcache_t *c);

/* The identity of a file from its stat. */
fs_fcache_id_t fs_fcache_id(const struct stat *st);

/* Whether a and b are the same version of a file. */
int fs_fcache_id_same(const fs_fcache_id_t *a, const fs_fcache_id_t *b);

/*
 * The table's entry of `key`, with a reference, stamped used; NULL when there is none.
 * With id, an entry built from another version is no hit (NULL; it stays in the table until
 * fs_fcache_put replaces it or fs_fcache_drop takes it out); without (NULL), the caller
 * checks the entry itself.
 */
fs_fcache_entry_t *fs_fcache_get(fs_fcache_t *c, const char *key, const fs_fcache_id_t *id);

/* The number of entries put in the table so far: taken before building an entry, it is
 * fs_fcache_put's `since`. */
uint64_t fs_fcache_seq(fs_fcache_t *c);

/* fs_fcache_put's `since` for "e is the newest: replace whatever entry of its key is
 * there" (callers that build one version at a time, or check identities themselves). */
#define FS_FCACHE_REPLACE UINT64_MAX

/*
 * Puts the new entry e (key and id set; no reference yet) in the table, with a reference
 * for the caller: *out is the entry the caller now holds. An entry of e's key in the table
 * is replaced (destroyed once nobody holds it), unless `since` is not FS_FCACHE_REPLACE
 * and it is
 *   - of e's identity (another caller built the same version meanwhile): then *out is that
 *     one, and e is destroyed;
 *   - put after `since` (fs_fcache_seq() when e's build began): a version at least as new
 *     as e, which stays; e serves its caller alone (*out = e, out of the table).
 * Then, over max entries, the least recently used one nobody holds is evicted.
 * Returns 1 when e is in the table, else 0.
 */
int fs_fcache_put(fs_fcache_t *c, fs_fcache_entry_t *e, uint64_t since,
                  fs_fcache_entry_t **out);

/* The new entry e serves its caller alone (never in the table, destroyed at its release),
 * with a reference for the caller: for an entry known to be out of date already. */
void fs_fcache_alone(fs_fcache_t *c, fs_fcache_entry_t *e);

/* Takes held entry e out of the table, if it is still there (its owner found it out of
 * date); the caller's reference stays, to release. */
void fs_fcache_drop(fs_fcache_entry_t *e);

/* Drops a reference to e: the last one of an entry out of the table destroys it.
 * NULL-safe. */
void fs_fcache_release(fs_fcache_entry_t *e);

#endif
