#include "index.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../pack/log.h"

/*
 * Ownership: one ix_t per process, owned by whoever called ix_open (fs/ main)
 * and shared read-only by the FUSE worker threads; LMDB does the locking. The
 * environment is opened with MDB_NOTLS, so a read transaction is not tied to the
 * thread that began it (FUSE may hand a request to another worker) and every
 * ix_read_t holds its own reader slot until ix_read_end. Writers serialise on
 * LMDB's write lock; readers never take it.
 */
struct ix {
    MDB_env *env;
    MDB_dbi media;              /* the "media" DB: file key -> media blob */
    MDB_dbi aux;                /* the "aux" DB: file key + tag -> blob (aux_ok) */
    bool aux_ok;                /* false: a read-only index made before "aux" existed */
    size_t maxkey;              /* key bytes LMDB accepts, at most KEY_BUF */
    bool rdonly;                /* opened MDB_RDONLY: the directory is not writable */
    atomic_bool full_logged;    /* MDB_MAP_FULL logged already (once per open) */
    /* the writer (ix_set_async): puts queued here, committed in batches by one thread */
    pthread_mutex_t mu;         /* guards every field below */
    pthread_cond_t work;        /* the queue got an entry, or stop */
    pthread_cond_t idle;        /* the queue is empty and nothing is being written */
    struct pending *head, **tail;
    size_t queued_bytes;        /* blob and path bytes in the queue */
    bool async, started, stop, busy;
    int first_err;              /* the first failed put since the last ix_flush, or 0 */
    pthread_t thread;
};

struct ix_read {
    ix_t *ix;
    MDB_txn *txn;               /* MDB_RDONLY, owns a reader slot */
};

enum {
    MAX_DBS = 4,                /* "media", "aux", "objects" later, room to grow */
    MAX_READERS = 256,          /* concurrent read handles: one per busy FUSE thread */
    KEY_BUF = 511,              /* LMDB's default mdb_env_get_maxkeysize() */
    KEY_FIXED = 33,             /* kind byte + dev, ino, size, mtime_ns */
    HASH_LEN = 16,
};

/*
 * Media keys. LMDB keys hold at most maxkey (511) bytes, a source path may be
 * longer (PATH_MAX is 4096). A key is
 *     kind (1 byte) | dev | ino | size | mtime_ns (big-endian u64 each) | rest
 * where kind 'p' means rest is the path itself, and kind 'h' (used when the path
 * does not fit) means rest is a 128-bit hash of the path (two unrelated 64-bit
 * hashes, below). The kind byte keeps the two spaces apart: a 16-byte path never
 * meets a hash. A hashed key may collide, so its value starts with the full path:
 *     path length (big-endian u32) | path | zero padding to a multiple of 8 | blob
 * and a get compares it, answering -ENOENT on a mismatch. Two paths with one hash
 * (and the same dev/ino/size/mtime) then share a slot: each put replaces the
 * other's blob, which is a cache miss, never a wrong answer. The padding keeps the
 * blob 8-byte aligned when LMDB puts the value on overflow pages (page + 16), so
 * pk_media_unpack can point into it.
 */
typedef struct {
    uint8_t b[KEY_BUF];
    size_t len;
    bool hashed;
} dbkey_t;

/* A put waiting for the writer: path (plen bytes) then blob (len bytes) in data. */
struct pending {
    struct pending *next;
    MDB_dbi dbi;
    size_t plen, len;
    dbkey_t k;
    uint8_t data[];
};

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* FNV-1a 64 (Fowler, Noll, Vo), the published offset basis and prime. */
static uint64_t hash_fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/*
 * A second, unrelated hash: multiply by the 64-bit golden ratio and rotate per
 * byte, then the splitmix64 finaliser with the length mixed in, so a collision of
 * one hash is not a collision of the other.
 */
static uint64_t hash_mix(const uint8_t *p, size_t n)
{
    uint64_t h = 0x243f6a8885a308d3u;           /* digits of pi: any odd constant */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x9e3779b97f4a7c15u;
        h = h << 31 | h >> 33;
    }
    h ^= n;
    h = (h ^ h >> 30) * 0xbf58476d1ce4e5b9u;
    h = (h ^ h >> 27) * 0x94d049bb133111ebu;
    return h ^ h >> 31;
}

static void path_hash(const char *path, size_t n, uint8_t out[HASH_LEN])
{
    put_be64(out, hash_fnv1a((const uint8_t *)path, n));
    put_be64(out + 8, hash_mix((const uint8_t *)path, n));
}

/*
 * Aux keys (ix_aux_get/put) are media keys with the tag between the identity and the
 * path: kind | dev | ino | size | mtime_ns | tag length (1 byte) | tag | rest; they live
 * in their own DB, so they never meet a media key.
 */
static void key_encode_tag(const ix_file_key_t *k, const char *tag, size_t maxkey,
                           dbkey_t *out)
{
    size_t plen = strlen(k->path), fixed = KEY_FIXED;

    put_be64(out->b + 1, k->dev);
    put_be64(out->b + 9, k->ino);
    put_be64(out->b + 17, k->size);
    put_be64(out->b + 25, (uint64_t)k->mtime_ns);
    if (tag) {
        size_t tlen = strlen(tag);         /* <= IX_TAG_MAX: checked by the callers */
        out->b[fixed++] = (uint8_t)tlen;
        memcpy(out->b + fixed, tag, tlen);
        fixed += tlen;
    }
    out->hashed = plen > maxkey - fixed;
    if (out->hashed) {
        out->b[0] = 'h';
        path_hash(k->path, plen, out->b + fixed);
        out->len = fixed + HASH_LEN;
    } else {
        out->b[0] = 'p';
        memcpy(out->b + fixed, k->path, plen);
        out->len = fixed + plen;
    }
}

static void key_encode(const ix_file_key_t *k, size_t maxkey, dbkey_t *out)
{
    key_encode_tag(k, NULL, maxkey, out);
}

/* Bytes before the blob in the value of a hashed key. */
static size_t val_hdr_len(size_t plen)
{
    return (4 + plen + 7) & ~(size_t)7;
}

/*
 * Checks that the value of a hashed key belongs to `path` and gives the offset of
 * its blob. Returns 0, -ENOENT (another path with the same hash) or -EBADMSG (the
 * value is too short for its own header).
 */
static int val_check_path(const MDB_val *v, const char *path, size_t plen, size_t *hdr)
{
    const uint8_t *p = v->mv_data;

    if (v->mv_size < 4 || v->mv_size < val_hdr_len(get_be32(p)))
        return -EBADMSG;
    if (get_be32(p) != plen || memcmp(p + 4, path, plen) != 0)
        return -ENOENT;
    *hdr = val_hdr_len(plen);
    return 0;
}

/* LMDB's codes to ours. LMDB also returns plain errno values (> 0): they pass. */
static int map_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:           return 0;
    case MDB_NOTFOUND:          return -ENOENT;
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:  return -EBADMSG;
    case MDB_MAP_FULL:          return -ENOSPC;
    case MDB_READERS_FULL:      return -EAGAIN;
    default:                    return rc > 0 ? -rc : -EIO;
    }
}

/* Logs an LMDB failure where it is found (as the caller's function) and maps it. */
#define FAIL(what, rc) lmdb_fail(__func__, what, rc)
static int lmdb_fail(const char *func, const char *what, int rc)
{
    pk_log(PK_LOG_ERROR, func, "%s: %s", what, mdb_strerror(rc));
    return map_err(rc);
}

/* mkdir -p: missing components are created 0700 (the cache is private). */
static int mkdir_p(const char *dir)
{
    struct stat st;
    int rc = 0;
    char *p, *s;

    if (!*dir)
        return -ENOENT;
    if (!(s = strdup(dir)))
        return -ENOMEM;
    for (p = s + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(s, 0700) < 0) {
            int e = errno;
            if (stat(s, &st) < 0 || !S_ISDIR(st.st_mode)) {
                rc = e == EEXIST ? -ENOTDIR : -e;
                PK_ERROR("mkdir %s: %s", s, strerror(-rc));
                break;
            }
        }
        *p = c;
        if (c == '\0')
            break;
    }
    free(s);
    return rc;
}

static bool data_file_exists(const char *dir)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/data.mdb", dir);
    return n > 0 && (size_t)n < sizeof path && access(path, F_OK) == 0;
}

/* Creates and opens the environment and its DBs into ix. On failure ix->env is NULL. */
static int env_open(ix_t *ix, const char *dir, uint64_t map_size, unsigned flags)
{
    MDB_txn *txn = NULL;
    int rc;

    flags |= MDB_NOTLS | MDB_NORDAHEAD;
    if ((rc = mdb_env_create(&ix->env)) != 0) {
        ix->env = NULL;
        return FAIL("mdb_env_create", rc);
    }
    if ((rc = mdb_env_set_mapsize(ix->env, (size_t)map_size)) != 0 ||
        (rc = mdb_env_set_maxdbs(ix->env, MAX_DBS)) != 0 ||
        (rc = mdb_env_set_maxreaders(ix->env, MAX_READERS)) != 0) {
        rc = FAIL("mdb_env_set", rc);
        goto out;
    }
    if ((rc = mdb_env_open(ix->env, dir, flags, 0600)) != 0) {
        if (rc != EACCES && rc != EROFS)    /* those: ix_open retries read-only */
            PK_ERROR("mdb_env_open %s: %s", dir, mdb_strerror(rc));
        rc = map_err(rc);
        goto out;
    }
    if ((rc = mdb_txn_begin(ix->env, NULL, flags & MDB_RDONLY, &txn)) != 0) {
        rc = FAIL("mdb_txn_begin", rc);
        goto out;
    }
    rc = mdb_dbi_open(txn, "media", (flags & MDB_RDONLY) ? 0 : MDB_CREATE, &ix->media);
    if (rc == MDB_NOTFOUND) {
        /* read-only and no media DB: not an index this program wrote */
        PK_ERROR("%s: no media DB", dir);
        rc = -EBADMSG;
        goto out;
    }
    if (rc != 0) {
        rc = FAIL("mdb_dbi_open media", rc);
        goto out;
    }
    rc = mdb_dbi_open(txn, "aux", (flags & MDB_RDONLY) ? 0 : MDB_CREATE, &ix->aux);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        rc = FAIL("mdb_dbi_open aux", rc);
        goto out;
    }
    ix->aux_ok = rc == 0;       /* read-only and made before "aux": lookups miss */
    rc = mdb_txn_commit(txn);       /* keeps the DB handle, also for a read txn */
    txn = NULL;
    if (rc != 0) {
        rc = FAIL("mdb_txn_commit", rc);
        goto out;
    }
    int mk = mdb_env_get_maxkeysize(ix->env);
    ix->maxkey = mk > 0 && mk < KEY_BUF ? (size_t)mk : KEY_BUF;
    ix->rdonly = flags & MDB_RDONLY;
out:
    if (txn)
        mdb_txn_abort(txn);
    if (rc != 0) {
        mdb_env_close(ix->env);
        ix->env = NULL;
    }
    return rc;
}

int ix_open(const char *dir, uint64_t map_size, ix_t **out)
{
    ix_t *ix = NULL;
    int rc;

    if (map_size == 0 || map_size > SIZE_MAX)
        return -EINVAL;
    if ((rc = mkdir_p(dir)) < 0)
        return rc;
    if (!(ix = calloc(1, sizeof *ix)))
        return -ENOMEM;
    atomic_init(&ix->full_logged, false);
    pthread_mutex_init(&ix->mu, NULL);
    pthread_cond_init(&ix->work, NULL);
    pthread_cond_init(&ix->idle, NULL);
    ix->tail = &ix->head;
    if (access(dir, W_OK) == 0)
        rc = env_open(ix, dir, map_size, 0);
    else
        rc = -errno;
    /* A directory (or files) we may not write: read what is there, if anything. */
    if (rc == -EACCES || rc == -EROFS || rc == -EPERM) {
        if (data_file_exists(dir))
            rc = env_open(ix, dir, map_size, MDB_RDONLY);
        if (rc == -EACCES || rc == -EROFS || rc == -EPERM)
            PK_ERROR("%s: not writable, no index to read there: %s", dir, strerror(-rc));
    }
    if (rc < 0) {
        pthread_cond_destroy(&ix->idle);
        pthread_cond_destroy(&ix->work);
        pthread_mutex_destroy(&ix->mu);
        free(ix);
        return rc;
    }
    *out = ix;
    return 0;
}

void ix_close(ix_t *ix)
{
    if (!ix)
        return;
    if (ix->started) {          /* the writer drains the queue before it stops */
        pthread_mutex_lock(&ix->mu);
        ix->stop = true;
        pthread_cond_signal(&ix->work);
        pthread_mutex_unlock(&ix->mu);
        pthread_join(ix->thread, NULL);
    }
    mdb_env_close(ix->env);         /* also closes the DB handles */
    pthread_cond_destroy(&ix->idle);
    pthread_cond_destroy(&ix->work);
    pthread_mutex_destroy(&ix->mu);
    free(ix);
}

int ix_read_begin(ix_t *ix, ix_read_t **out)
{
    ix_read_t *r = malloc(sizeof *r);
    int rc;

    if (!r)
        return -ENOMEM;
    r->ix = ix;
    if ((rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &r->txn)) != 0) {
        free(r);
        return FAIL("mdb_txn_begin", rc);
    }
    *out = r;
    return 0;
}

void ix_read_end(ix_read_t *r)
{
    if (!r)
        return;
    mdb_txn_abort(r->txn);          /* a read txn has nothing to commit */
    free(r);
}

/* The blob of an encoded key in DB dbi of snapshot r (see ix_media_get). */
static int get_raw(ix_read_t *r, MDB_dbi dbi, const dbkey_t *k, const char *path,
                   const void **blob, size_t *len)
{
    MDB_val kv = { .mv_size = k->len, .mv_data = (void *)k->b }, v;
    size_t hdr = 0;
    int rc;

    if ((rc = mdb_get(r->txn, dbi, &kv, &v)) != 0)
        return rc == MDB_NOTFOUND ? -ENOENT : FAIL("mdb_get", rc);
    if (k->hashed) {
        rc = val_check_path(&v, path, strlen(path), &hdr);
        if (rc == -EBADMSG) {
            PK_ERROR("value of %.64s...: %zu bytes, shorter than its header", path,
                     v.mv_size);
            return -EIO;
        }
        if (rc < 0)
            return rc;
    }
    *blob = (const uint8_t *)v.mv_data + hdr;
    *len = v.mv_size - hdr;
    return 0;
}

int ix_media_get(ix_read_t *r, const ix_file_key_t *key, const void **blob, size_t *len)
{
    dbkey_t k;
    key_encode(key, r->ix->maxkey, &k);
    return get_raw(r, r->ix->media, &k, key->path, blob, len);
}

/*
 * Stores a blob under an encoded key of DB dbi in one write txn; a hashed key's value
 * gets the path header first (see the key comment). Separate from ix_media_put so tests
 * can write a value under a key of their choosing.
 */
/* Writes one value into write txn `txn` (MDB_RESERVE: the path header and the blob are
 * copied straight into the map). Returns an LMDB code. */
static int put_txn(MDB_txn *txn, MDB_dbi dbi, const dbkey_t *k, const char *path, size_t plen,
                   const void *blob, size_t len)
{
    MDB_val kv = { .mv_size = k->len, .mv_data = (void *)k->b };
    size_t hdr = k->hashed ? val_hdr_len(plen) : 0;
    MDB_val v = { .mv_size = hdr + len, .mv_data = NULL };
    int rc = mdb_put(txn, dbi, &kv, &v, MDB_RESERVE);
    if (rc != 0)
        return rc;
    uint8_t *p = v.mv_data;
    if (k->hashed) {
        memset(p, 0, hdr);
        p[0] = (uint8_t)(plen >> 24);
        p[1] = (uint8_t)(plen >> 16);
        p[2] = (uint8_t)(plen >> 8);
        p[3] = (uint8_t)plen;
        memcpy(p + 4, path, plen);
    }
    if (len)
        memcpy(p + hdr, blob, len);
    return 0;
}

static int put_result(ix_t *ix, int rc, size_t len)
{
    if (rc == MDB_MAP_FULL) {
        /* every put will say so until entries go: log the first one only */
        if (!atomic_exchange(&ix->full_logged, true))
            PK_ERROR("index full: %zu byte blob does not fit", len);
        return -ENOSPC;
    }
    return rc == 0 ? 0 : FAIL("mdb_put", rc);
}

/* One value in a write txn of its own. */
static int put_sync(ix_t *ix, MDB_dbi dbi, const dbkey_t *k, const char *path, size_t plen,
                    const void *blob, size_t len)
{
    MDB_txn *txn;
    int rc;
    if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0)
        return FAIL("mdb_txn_begin", rc);
    if ((rc = put_txn(txn, dbi, k, path, plen, blob, len)) == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    return put_result(ix, rc, len);
}

/*
 * The writer thread: takes the whole queue, writes it in one transaction (one commit,
 * one sync, however many puts a burst of requests queued), and answers ix_flush. A batch
 * that fails (the map is full) is written again one value per transaction, so that what
 * fits still goes in and each failure is counted once.
 */
static void *writer(void *arg)
{
    ix_t *ix = arg;
    pthread_mutex_lock(&ix->mu);
    for (;;) {
        while (!ix->head && !ix->stop)
            pthread_cond_wait(&ix->work, &ix->mu);
        if (!ix->head)
            break;              /* stop, and nothing left to write */
        struct pending *batch = ix->head;
        ix->head = NULL;
        ix->tail = &ix->head;
        ix->queued_bytes = 0;
        ix->busy = true;
        pthread_mutex_unlock(&ix->mu);

        MDB_txn *txn;
        int rc = mdb_txn_begin(ix->env, NULL, 0, &txn), err = 0;
        if (rc == 0) {
            for (struct pending *e = batch; rc == 0 && e; e = e->next)
                rc = put_txn(txn, e->dbi, &e->k, (const char *)e->data, e->plen,
                             e->data + e->plen, e->len);
            if (rc == 0)
                rc = mdb_txn_commit(txn);
            else
                mdb_txn_abort(txn);
        }
        if (rc != 0) {
            for (struct pending *e = batch; e; e = e->next) {
                int r = put_sync(ix, e->dbi, &e->k, (const char *)e->data, e->plen,
                                 e->data + e->plen, e->len);
                if (r < 0 && !err)
                    err = r;
            }
        }
        while (batch) {
            struct pending *next = batch->next;
            free(batch);
            batch = next;
        }

        pthread_mutex_lock(&ix->mu);
        if (err && !ix->first_err)
            ix->first_err = err;
        ix->busy = false;
        if (!ix->head)
            pthread_cond_broadcast(&ix->idle);
    }
    pthread_mutex_unlock(&ix->mu);
    return NULL;
}

/* Queues a put for the writer (starting it the first time). Returns 0, or 1 when the
 * put is to be done synchronously (no writer, or the queue holds too much). */
static int enqueue(ix_t *ix, MDB_dbi dbi, const dbkey_t *k, const char *path, size_t plen,
                   const void *blob, size_t len)
{
    int rc = 1;
    if (!ix->async || plen > SIZE_MAX / 2 || len > SIZE_MAX / 2 - plen - sizeof(struct pending))
        return 1;
    pthread_mutex_lock(&ix->mu);
    if (ix->queued_bytes + plen + len > IX_QUEUE_MAX)
        goto out;               /* back-pressure: the caller waits for its own commit */
    if (!ix->started) {
        if (pthread_create(&ix->thread, NULL, writer, ix) != 0)
            goto out;
        ix->started = true;
    }
    struct pending *e = malloc(sizeof *e + plen + len);
    if (!e)
        goto out;
    e->next = NULL;
    e->dbi = dbi;
    e->plen = plen;
    e->len = len;
    e->k = *k;
    memcpy(e->data, path, plen);
    if (len)
        memcpy(e->data + plen, blob, len);
    *ix->tail = e;
    ix->tail = &e->next;
    ix->queued_bytes += plen + len;
    pthread_cond_signal(&ix->work);
    rc = 0;
out:
    pthread_mutex_unlock(&ix->mu);
    return rc;
}

/*
 * Stores a blob under an encoded key of DB dbi: queued for the writer when the index is
 * asynchronous, else in one write txn of its own; a hashed key's value gets the path
 * header first (see the key comment). Separate from ix_media_put so tests can write a
 * value under a key of their choosing.
 */
static int put_raw(ix_t *ix, MDB_dbi dbi, const dbkey_t *k, const char *path, size_t plen,
                   const void *blob, size_t len)
{
    size_t hdr = k->hashed ? val_hdr_len(plen) : 0;
    if (len > SIZE_MAX - hdr)
        return -ENOSPC;
    if (enqueue(ix, dbi, k, path, plen, blob, len) == 0)
        return 0;
    return put_sync(ix, dbi, k, path, plen, blob, len);
}

void ix_set_async(ix_t *ix, bool on)
{
    if (on) {
        ix->async = !ix->rdonly;
        return;
    }
    (void)ix_flush(ix);
    ix->async = false;
}

int ix_flush(ix_t *ix)
{
    pthread_mutex_lock(&ix->mu);
    while (ix->head || ix->busy)
        pthread_cond_wait(&ix->idle, &ix->mu);
    int rc = ix->first_err;
    ix->first_err = 0;
    pthread_mutex_unlock(&ix->mu);
    return rc;
}

static int media_put_raw(ix_t *ix, const dbkey_t *k, const char *path, size_t plen,
                         const void *blob, size_t len)
{
    return put_raw(ix, ix->media, k, path, plen, blob, len);
}

int ix_media_put(ix_t *ix, const ix_file_key_t *key, const void *blob, size_t len)
{
    dbkey_t k;
    size_t plen = strlen(key->path);

    if (plen > UINT32_MAX)
        return -ENAMETOOLONG;
    key_encode(key, ix->maxkey, &k);
    return media_put_raw(ix, &k, key->path, plen, blob, len);
}

/* A tag of 1..IX_TAG_MAX bytes (no NUL inside, by being a C string). */
static int tag_ok(const char *tag)
{
    size_t n = tag ? strlen(tag) : 0;
    return n >= 1 && n <= IX_TAG_MAX;
}

int ix_aux_get(ix_read_t *r, const ix_file_key_t *key, const char *tag, const void **blob,
               size_t *len)
{
    dbkey_t k;
    if (!tag_ok(tag))
        return -EINVAL;
    if (!r->ix->aux_ok)
        return -ENOENT;
    key_encode_tag(key, tag, r->ix->maxkey, &k);
    return get_raw(r, r->ix->aux, &k, key->path, blob, len);
}

int ix_aux_put(ix_t *ix, const ix_file_key_t *key, const char *tag, const void *blob,
               size_t len)
{
    dbkey_t k;
    size_t plen = strlen(key->path);

    if (!tag_ok(tag))
        return -EINVAL;
    if (plen > UINT32_MAX)
        return -ENAMETOOLONG;
    if (!ix->aux_ok)
        return -EACCES;         /* only a read-only index lacks the DB */
    key_encode_tag(key, tag, ix->maxkey, &k);
    return put_raw(ix, ix->aux, &k, key->path, plen, blob, len);
}

/* Entries and blob bytes of one DB (a hashed key's value starts with its path: not
 * counted). */
static int count_db(MDB_txn *txn, MDB_dbi dbi, uint64_t *entries, uint64_t *bytes)
{
    MDB_cursor *cur = NULL;
    MDB_stat ms;
    MDB_val k, v;
    int rc;

    *bytes = 0;
    if ((rc = mdb_stat(txn, dbi, &ms)) != 0 || (rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
        return FAIL("mdb_stat/mdb_cursor_open", rc);
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        size_t hdr = 0;
        if (k.mv_size > 0 && *(const uint8_t *)k.mv_data == 'h' && v.mv_size >= 4)
            hdr = val_hdr_len(get_be32(v.mv_data));
        *bytes += v.mv_size > hdr ? v.mv_size - hdr : 0;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND)
        return FAIL("mdb_cursor_get", rc);
    *entries = ms.ms_entries;
    return 0;
}

int ix_stats(ix_t *ix, ix_stats_t *st)
{
    MDB_txn *txn = NULL;
    MDB_envinfo info;
    struct stat fst;
    mdb_filehandle_t fd;
    uint64_t media_n = 0, media_b = 0, aux_n = 0, aux_b = 0;
    int rc;

    if ((rc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn)) != 0)
        return FAIL("mdb_txn_begin", rc);
    if ((rc = count_db(txn, ix->media, &media_n, &media_b)) < 0 ||
        (ix->aux_ok && (rc = count_db(txn, ix->aux, &aux_n, &aux_b)) < 0))
        goto out;
    if ((rc = mdb_env_info(ix->env, &info)) != 0 ||
        (rc = mdb_env_get_fd(ix->env, &fd)) != 0) {
        rc = FAIL("mdb_env_info", rc);
        goto out;
    }
    if (fstat(fd, &fst) < 0) {
        rc = -errno;
        PK_ERROR("fstat data.mdb: %s", strerror(errno));
        goto out;
    }
    *st = (ix_stats_t){
        .media_entries = media_n,
        .media_bytes = media_b,
        .aux_entries = aux_n,
        .aux_bytes = aux_b,
        .map_size = info.me_mapsize,
        .file_bytes = (uint64_t)fst.st_blocks * 512,    /* allocated, not apparent */
    };
    rc = 0;
out:
    mdb_txn_abort(txn);
    return rc;
}

int ix_clear(ix_t *ix)
{
    MDB_txn *txn;
    int rc;

    if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)) != 0)
        return FAIL("mdb_txn_begin", rc);
    if ((rc = mdb_drop(txn, ix->media, 0)) != 0 ||
        (ix->aux_ok && (rc = mdb_drop(txn, ix->aux, 0)) != 0)) {
        mdb_txn_abort(txn);
        return FAIL("mdb_drop", rc);
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return FAIL("mdb_txn_commit", rc);
    return 0;
}
