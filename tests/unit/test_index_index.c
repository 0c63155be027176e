/*
 * index/index.c against a real LMDB environment in a private temp dir (LMDB is
 * this module's one dependency; the tests need no FUSE or mount).
 */
#include "test.h"

#include "../../index/index.c"
#include "../../pack/log.c"

#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <time.h>

enum { MAP = 16 << 20 };

static char tmpdir[64];
static int log_lines;

static void count_log(int level, const char *func, const char *msg, void *ctx)
{
    (void)level; (void)func; (void)msg; (void)ctx;
    log_lines++;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/ismfs_ix_XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    log_lines = 0;
    pk_log_set_sink(count_log, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pk_log_set_sink(NULL, NULL);
    return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A path below the temp dir, in a static buffer. */
static const char *sub(const char *name)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static ix_t *open_ix(const char *dir, uint64_t map)
{
    ix_t *ix = NULL;
    assert_int_equal(ix_open(dir, map, &ix), 0);
    return ix;
}

static ix_file_key_t key_of(const char *path)
{
    return (ix_file_key_t){ .path = path, .dev = 2049, .ino = 1234, .size = 5678,
                            .mtime_ns = 1700000000123456789 };
}

/* The blob of key k in a fresh snapshot, compared with want. Returns the get's code. */
static int get_cmp(ix_t *ix, const ix_file_key_t *k, const char *want)
{
    ix_read_t *r;
    const void *b;
    size_t n;
    assert_int_equal(ix_read_begin(ix, &r), 0);
    int rc = ix_media_get(r, k, &b, &n);
    if (rc == 0) {
        assert_int_equal(n, strlen(want));
        assert_memory_equal(b, want, n);
    }
    ix_read_end(r);
    return rc;
}

static void test_put_get_round_trip(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    ix_file_key_t k = key_of("movies/bbb/bbb_3000.mp4");
    assert_int_equal(ix_media_put(ix, &k, "tables", 6), 0);
    assert_int_equal(get_cmp(ix, &k, "tables"), 0);
    assert_int_equal(ix_media_put(ix, &k, "replaced", 8), 0);
    assert_int_equal(get_cmp(ix, &k, "replaced"), 0);
    ix_file_key_t e = key_of("empty.mp4");
    assert_int_equal(ix_media_put(ix, &e, NULL, 0), 0);
    assert_int_equal(get_cmp(ix, &e, ""), 0);
    ix_close(ix);
}

static void test_get_absent(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    ix_file_key_t k = key_of("nothing.mp4");
    assert_int_equal(get_cmp(ix, &k, ""), -ENOENT);
    ix_close(ix);
}

static void test_identity_changes_key(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    ix_file_key_t k = key_of("a.mp4");
    assert_int_equal(ix_media_put(ix, &k, "old", 3), 0);

    ix_file_key_t m = k;
    m.mtime_ns += 1;
    assert_int_equal(get_cmp(ix, &m, ""), -ENOENT);
    m = k;
    m.size += 1;
    assert_int_equal(get_cmp(ix, &m, ""), -ENOENT);
    m = k;
    m.ino += 1;
    assert_int_equal(get_cmp(ix, &m, ""), -ENOENT);
    m = k;
    m.dev += 1;
    assert_int_equal(get_cmp(ix, &m, ""), -ENOENT);
    m = key_of("b.mp4");
    assert_int_equal(get_cmp(ix, &m, ""), -ENOENT);
    assert_int_equal(get_cmp(ix, &k, "old"), 0);
    ix_close(ix);
}

/* A path that is exactly `n` bytes of `c`, the last byte `last`. */
static char *long_path(size_t n, char c, char last)
{
    char *p = malloc(n + 1);
    assert_non_null(p);
    memset(p, c, n);
    p[n - 1] = last;
    p[n] = '\0';
    return p;
}

static void test_key_encoding(void **state)
{
    (void)state;
    dbkey_t k;
    char *fits = long_path(KEY_BUF - KEY_FIXED, 'x', 'x');
    char *over = long_path(KEY_BUF - KEY_FIXED + 1, 'x', 'x');

    ix_file_key_t f = key_of(fits);
    key_encode(&f, KEY_BUF, &k);
    assert_false(k.hashed);
    assert_int_equal(k.len, KEY_BUF);
    assert_int_equal(k.b[0], 'p');
    assert_memory_equal(k.b + 9, "\0\0\0\0\0\0\x04\xd2", 8);    /* ino 1234, big-endian */

    ix_file_key_t o = key_of(over);
    key_encode(&o, KEY_BUF, &k);
    assert_true(k.hashed);
    assert_int_equal(k.len, KEY_FIXED + HASH_LEN);
    assert_int_equal(k.b[0], 'h');

    /* the two halves are different functions, each deterministic */
    const uint8_t *u = (const uint8_t *)over;
    size_t n = strlen(over);
    assert_true(hash_fnv1a(u, n) != hash_mix(u, n));
    assert_true(hash_fnv1a(u, n) == hash_fnv1a(u, n));
    assert_true(hash_mix(u, n) != hash_mix(u, n - 1));
    assert_true(hash_fnv1a((const uint8_t *)"", 0) == 0xcbf29ce484222325u);
    assert_true(hash_fnv1a((const uint8_t *)"a", 1) == 0xaf63dc4c8601ec8cu);  /* FNV test vector */
    free(fits);
    free(over);
}

static void test_val_check_path(void **state)
{
    (void)state;
    uint8_t buf[32] = { 0, 0, 0, 5, 'a', 'b', 'c', 'd', 'e', 0, 0, 0, 'B', 'L', 'O', 'B' };
    MDB_val v = { .mv_size = 16, .mv_data = buf };
    size_t hdr = 0;

    assert_int_equal(val_hdr_len(5), 16);
    assert_int_equal(val_hdr_len(4), 8);
    assert_int_equal(val_check_path(&v, "abcde", 5, &hdr), 0);
    assert_int_equal(hdr, 16);
    assert_int_equal(val_check_path(&v, "abcdf", 5, &hdr), -ENOENT);
    assert_int_equal(val_check_path(&v, "abcd", 4, &hdr), -ENOENT);
    v.mv_size = 15;                                     /* header cut short */
    assert_int_equal(val_check_path(&v, "abcde", 5, &hdr), -EBADMSG);
    v.mv_size = 3;
    assert_int_equal(val_check_path(&v, "abcde", 5, &hdr), -EBADMSG);
}

static void test_long_path(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    char *a = long_path(4000, 'd', 'a');
    char *b = long_path(4000, 'd', 'b');
    ix_file_key_t ka = key_of(a), kb = key_of(b);

    assert_int_equal(ix_media_put(ix, &ka, "blob-a", 6), 0);
    assert_int_equal(get_cmp(ix, &ka, "blob-a"), 0);
    assert_int_equal(get_cmp(ix, &kb, ""), -ENOENT);

    /* A hash collision: b's key holds a's value (a's path). The get must see it. */
    dbkey_t k;
    key_encode(&kb, ix->maxkey, &k);
    assert_true(k.hashed);
    assert_int_equal(media_put_raw(ix, &k, a, strlen(a), "blob-a", 6), 0);
    assert_int_equal(get_cmp(ix, &kb, ""), -ENOENT);
    assert_int_equal(ix_media_put(ix, &kb, "blob-b", 6), 0);   /* a put takes the slot */
    assert_int_equal(get_cmp(ix, &kb, "blob-b"), 0);
    assert_int_equal(get_cmp(ix, &ka, "blob-a"), 0);

    /* a blob on overflow pages starts 8-byte aligned, header and all */
    static uint8_t big[64 << 10];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    assert_int_equal(ix_media_put(ix, &ka, big, sizeof big), 0);
    ix_read_t *r;
    const void *p;
    size_t n;
    assert_int_equal(ix_read_begin(ix, &r), 0);
    assert_int_equal(ix_media_get(r, &ka, &p, &n), 0);
    assert_int_equal(n, sizeof big);
    assert_memory_equal(p, big, n);
    assert_int_equal((uintptr_t)p % 8, 0);
    ix_read_end(r);
    free(a);
    free(b);
    ix_close(ix);
}

static void test_zero_copy_snapshot(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    ix_file_key_t k = key_of("zc.mp4");
    ix_read_t *r;
    const void *p1, *p2;
    size_t n1, n2;

    assert_int_equal(ix_media_put(ix, &k, "first", 5), 0);
    assert_int_equal(ix_read_begin(ix, &r), 0);
    assert_int_equal(ix_media_get(r, &k, &p1, &n1), 0);
    assert_int_equal(ix_media_get(r, &k, &p2, &n2), 0);
    assert_ptr_equal(p1, p2);
    assert_int_equal(n1, 5);

    /* writers go on; the snapshot keeps its pages until ix_read_end */
    char other[32];
    for (int i = 0; i < 200; i++) {
        ix_file_key_t o = key_of("zc.mp4");
        o.ino = (uint64_t)i + 1;
        snprintf(other, sizeof other, "filler %d", i);
        assert_int_equal(ix_media_put(ix, &o, other, strlen(other)), 0);
    }
    assert_int_equal(ix_media_put(ix, &k, "second", 6), 0);
    assert_int_equal(ix_media_put(ix, &k, "third!", 6), 0);
    assert_memory_equal(p1, "first", 5);
    assert_int_equal(ix_media_get(r, &k, &p2, &n2), 0);
    assert_ptr_equal(p1, p2);
    assert_int_equal(get_cmp(ix, &k, "third!"), 0);
    ix_read_end(r);
    ix_close(ix);
}

static void test_persistence(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s", sub("deep/er/cache"));
    ix_t *ix = open_ix(dir, MAP);
    struct stat st;
    assert_int_equal(stat(sub("deep/er"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(sub("deep/er/cache/data.mdb"), &st), 0);
    assert_int_equal(stat(sub("deep/er/cache/lock.mdb"), &st), 0);

    ix_file_key_t k = key_of("kept.mp4");
    char *lp = long_path(1000, 'l', 'p');
    ix_file_key_t kl = key_of(lp);
    assert_int_equal(ix_media_put(ix, &k, "kept", 4), 0);
    assert_int_equal(ix_media_put(ix, &kl, "long", 4), 0);
    ix_close(ix);

    ix = open_ix(dir, MAP);
    assert_int_equal(get_cmp(ix, &k, "kept"), 0);
    assert_int_equal(get_cmp(ix, &kl, "long"), 0);
    ix_close(ix);
    free(lp);
}

static void test_open_not_a_dir(void **state)
{
    (void)state;
    ix_t *ix = NULL;
    FILE *f = fopen(sub("file"), "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(ix_open(sub("file"), MAP, &ix), -ENOTDIR);
    assert_int_equal(ix_open(sub("file/below"), MAP, &ix), -ENOTDIR);
    assert_int_equal(ix_open(tmpdir, 0, &ix), -EINVAL);
    assert_null(ix);
}

static void test_map_full(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, 64 << 10);
    ix_file_key_t k = key_of("big.mp4"), s = key_of("small.mp4");
    static uint8_t big[128 << 10];

    assert_int_equal(ix_media_put(ix, &s, "small", 5), 0);
    assert_int_equal(ix_media_put(ix, &k, big, sizeof big), -ENOSPC);
    assert_int_equal(ix_media_put(ix, &k, big, sizeof big), -ENOSPC);
    assert_int_equal(log_lines, 1);                     /* logged once, not per put */
    assert_int_equal(get_cmp(ix, &k, ""), -ENOENT);
    assert_int_equal(get_cmp(ix, &s, "small"), 0);
    assert_int_equal(ix_media_put(ix, &k, "fits", 4), 0);
    assert_int_equal(get_cmp(ix, &k, "fits"), 0);
    ix_close(ix);
}

static void test_stats_and_clear(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    ix_stats_t st;
    char *lp = long_path(2000, 's', 't');
    ix_file_key_t a = key_of("a.mp4"), b = key_of("b.mp4"), l = key_of(lp);

    assert_int_equal(ix_stats(ix, &st), 0);
    assert_int_equal(st.media_entries, 0);
    assert_int_equal(st.media_bytes, 0);
    assert_int_equal(st.map_size, MAP);
    assert_true(st.file_bytes > 0);

    assert_int_equal(ix_media_put(ix, &a, "12345", 5), 0);
    assert_int_equal(ix_media_put(ix, &b, "123", 3), 0);
    assert_int_equal(ix_media_put(ix, &l, "1234567", 7), 0);   /* path header not counted */
    assert_int_equal(ix_media_put(ix, &a, "1234", 4), 0);      /* replaces */
    assert_int_equal(ix_stats(ix, &st), 0);
    assert_int_equal(st.media_entries, 3);
    assert_int_equal(st.media_bytes, 4 + 3 + 7);

    assert_int_equal(ix_clear(ix), 0);
    assert_int_equal(ix_stats(ix, &st), 0);
    assert_int_equal(st.media_entries, 0);
    assert_int_equal(st.media_bytes, 0);
    assert_int_equal(get_cmp(ix, &a, ""), -ENOENT);
    assert_int_equal(ix_media_put(ix, &a, "again", 5), 0);
    assert_int_equal(get_cmp(ix, &a, "again"), 0);
    ix_close(ix);
    free(lp);
}

static void test_garbage_file(void **state)
{
    (void)state;
    char dir[128], path[160];
    uint8_t junk[16384];
    ix_t *ix = NULL;

    snprintf(dir, sizeof dir, "%s", sub("bad"));
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 131 + 17);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    fclose(f);
    /* moved aside (the bytes kept, for a look), a new cache made and working */
    assert_int_equal(ix_open(dir, MAP, &ix), 0);
    assert_true(log_lines >= 1);
    ix_file_key_t k = key_of("after.mp4");
    assert_int_equal(ix_media_put(ix, &k, "fresh", 5), 0);
    assert_int_equal(get_cmp(ix, &k, "fresh"), 0);
    ix_close(ix);
    DIR *d = opendir(dir);
    struct dirent *e;
    int aside = 0;
    assert_non_null(d);
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "data.mdb.corrupt-", 17) == 0) {
            char p2[512];
            struct stat st;
            snprintf(p2, sizeof p2, "%s/%s", dir, e->d_name);
            assert_int_equal(stat(p2, &st), 0);
            aside += st.st_size == (off_t)sizeof junk;
        }
    }
    closedir(d);
    assert_int_equal(aside, 1);
}

/* Read-only fallback: a directory we may not write. Root writes anyway: skipped. */
static void test_read_only_dir(void **state)
{
    (void)state;
    if (geteuid() == 0)
        skip();
    ix_t *ix = open_ix(sub("ro"), MAP);
    ix_file_key_t k = key_of("ro.mp4");
    assert_int_equal(ix_media_put(ix, &k, "ro", 2), 0);
    ix_close(ix);
    assert_int_equal(chmod(sub("ro"), 0500), 0);
    ix = open_ix(sub("ro"), MAP);
    assert_true(ix->rdonly);
    assert_int_equal(get_cmp(ix, &k, "ro"), 0);
    assert_int_equal(ix_media_put(ix, &k, "no", 2), -EACCES);
    ix_close(ix);
    assert_int_equal(chmod(sub("ro"), 0700), 0);

    ix = NULL;
    assert_int_equal(mkdir(sub("ro_empty"), 0500), 0);
    assert_int_equal(ix_open(sub("ro_empty"), MAP, &ix), -EACCES);
    assert_null(ix);
}

/* The aux blob of (k, tag) in a fresh snapshot, compared with want. */
static int aux_cmp(ix_t *ix, const ix_file_key_t *k, const char *tag, const char *want)
{
    ix_read_t *r;
    const void *b;
    size_t n;
    assert_int_equal(ix_read_begin(ix, &r), 0);
    int rc = ix_aux_get(r, k, tag, &b, &n);
    if (rc == 0) {
        assert_int_equal(n, strlen(want));
        assert_memory_equal(b, want, n);
    }
    ix_read_end(r);
    return rc;
}

/* Aux blobs: per (identity, tag), apart from media blobs and from each other; long paths
 * hashed; counted by stats, dropped by clear; bad tags refused. */
static void test_aux(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    ix_file_key_t k = key_of("movies/a.mp4"), m;
    char *lp = long_path(3000, 'l', 'p');
    ix_file_key_t l = key_of(lp);
    char tag33[IX_TAG_MAX + 2];
    ix_stats_t st;

    assert_int_equal(aux_cmp(ix, &k, "sub/cenc/1", ""), -ENOENT);
    assert_int_equal(ix_aux_put(ix, &k, "sub/cenc/1", "cenc-1", 6), 0);
    assert_int_equal(ix_aux_put(ix, &k, "sub/cbcs/1", "cbcs-1", 6), 0);
    assert_int_equal(ix_media_put(ix, &k, "media", 5), 0);
    assert_int_equal(aux_cmp(ix, &k, "sub/cenc/1", "cenc-1"), 0);
    assert_int_equal(aux_cmp(ix, &k, "sub/cbcs/1", "cbcs-1"), 0);
    assert_int_equal(aux_cmp(ix, &k, "sub/cenc/2", ""), -ENOENT);
    assert_int_equal(get_cmp(ix, &k, "media"), 0);
    /* a tag that ends where a path begins is not that path: the length byte says so */
    m = key_of("1movies/a.mp4");
    assert_int_equal(aux_cmp(ix, &m, "sub/cenc/", ""), -ENOENT);
    assert_int_equal(ix_aux_put(ix, &k, "sub/cenc/1", "replaced", 8), 0);
    assert_int_equal(aux_cmp(ix, &k, "sub/cenc/1", "replaced"), 0);
    m = k;
    m.mtime_ns++;
    assert_int_equal(aux_cmp(ix, &m, "sub/cenc/1", ""), -ENOENT);

    assert_int_equal(ix_aux_put(ix, &l, "t", "long", 4), 0);
    assert_int_equal(aux_cmp(ix, &l, "t", "long"), 0);
    lp[2999] = 'q';             /* same length, another path: another hash */
    assert_int_equal(aux_cmp(ix, &l, "t", ""), -ENOENT);
    lp[2999] = 'p';

    memset(tag33, 't', IX_TAG_MAX + 1);
    tag33[IX_TAG_MAX + 1] = '\0';
    assert_int_equal(ix_aux_put(ix, &k, tag33, "x", 1), -EINVAL);
    assert_int_equal(ix_aux_put(ix, &k, "", "x", 1), -EINVAL);
    assert_int_equal(aux_cmp(ix, &k, "", ""), -EINVAL);
    tag33[IX_TAG_MAX] = '\0';  /* exactly IX_TAG_MAX bytes: fine */
    assert_int_equal(ix_aux_put(ix, &l, tag33, "max", 3), 0);
    assert_int_equal(aux_cmp(ix, &l, tag33, "max"), 0);

    assert_int_equal(ix_stats(ix, &st), 0);
    assert_int_equal(st.aux_entries, 4);
    assert_int_equal(st.aux_bytes, 8 + 6 + 4 + 3);
    assert_int_equal(st.media_entries, 1);
    ix_close(ix);

    /* across a reopen (the counts survive restarts), then cleared with the media */
    ix = open_ix(tmpdir, MAP);
    assert_int_equal(aux_cmp(ix, &k, "sub/cbcs/1", "cbcs-1"), 0);
    assert_int_equal(ix_clear(ix), 0);
    assert_int_equal(aux_cmp(ix, &k, "sub/cbcs/1", ""), -ENOENT);
    assert_int_equal(ix_stats(ix, &st), 0);
    assert_int_equal(st.aux_entries, 0);
    assert_int_equal(st.aux_bytes, 0);
    ix_close(ix);
    free(lp);
}

enum { THREADS = 8, KEYS = 32 };

typedef struct {
    ix_t *ix;
    int id;
    atomic_bool *stop;
    long gets, puts, errors;
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    char path[64], blob[64];

    for (unsigned i = 0; !atomic_load(w->stop); i++) {
        snprintf(path, sizeof path, "t/%u.mp4", i % KEYS);
        ix_file_key_t k = key_of(path);
        k.ino = i % KEYS;
        int n = snprintf(blob, sizeof blob, "blob of %u", i % KEYS);
        if ((i + (unsigned)w->id) % 4 == 0) {
            if (ix_media_put(w->ix, &k, blob, (size_t)n) != 0)
                w->errors++;
            w->puts++;
            continue;
        }
        ix_read_t *r;
        const void *p;
        size_t len;
        if (ix_read_begin(w->ix, &r) != 0) {
            w->errors++;
            continue;
        }
        int rc = ix_media_get(r, &k, &p, &len);
        if (rc == 0 && (len != (size_t)n || memcmp(p, blob, len) != 0))
            w->errors++;
        else if (rc != 0 && rc != -ENOENT)
            w->errors++;
        ix_read_end(r);
        w->gets++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, 64 << 20);
    pthread_t t[THREADS];
    worker_t w[THREADS];
    atomic_bool stop;

    atomic_init(&stop, false);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker_t){ .ix = ix, .id = i, .stop = &stop };
        assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    }
    nanosleep(&(struct timespec){ .tv_sec = 1 }, NULL);
    atomic_store(&stop, true);
    long gets = 0, puts = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].errors, 0);
        gets += w[i].gets;
        puts += w[i].puts;
    }
    assert_true(gets > 0 && puts > 0);
    assert_int_equal(log_lines, 0);
    ix_close(ix);
}

/* Asynchronous puts: queued, committed by the writer, visible after ix_flush; a batch of
 * many puts is one commit; what ix_close finds queued is written (a reopen sees it). */
static void test_async_puts(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    char names[64][24];
    ix_file_key_t keys[64];

    ix_set_async(ix, true);
    for (int i = 0; i < 64; i++) {
        snprintf(names[i], sizeof names[i], "f%02d.mp4", i);
        keys[i] = key_of(names[i]);
        assert_int_equal(ix_media_put(ix, &keys[i], names[i], strlen(names[i])), 0);
    }
    assert_int_equal(ix_flush(ix), 0);
    for (int i = 0; i < 64; i++)
        assert_int_equal(get_cmp(ix, &keys[i], names[i]), 0);
    MDB_stat st;
    MDB_envinfo info;
    assert_int_equal(mdb_env_stat(ix->env, &st), 0);
    assert_int_equal(mdb_env_info(ix->env, &info), 0);
    /* one txn for the env's DBs at open, at most a handful for 64 puts (batches) */
    assert_true(info.me_last_txnid < 1 + 64);

    /* queued, then closed without a flush: written all the same */
    ix_file_key_t late = key_of("late.mp4");
    assert_int_equal(ix_media_put(ix, &late, "late", 4), 0);
    ix_close(ix);
    ix = open_ix(tmpdir, MAP);
    assert_int_equal(get_cmp(ix, &late, "late"), 0);
    ix_close(ix);
}

/* A queued put that does not fit: ix_flush reports -ENOSPC (logged once), the puts
 * queued beside it that fit are written, and the index keeps working. */
static void test_async_map_full(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, 64 << 10);
    ix_file_key_t k = key_of("big.mp4"), s = key_of("small.mp4");
    static uint8_t big[128 << 10];

    ix_set_async(ix, true);
    assert_int_equal(ix_media_put(ix, &k, big, sizeof big), 0);     /* only queued */
    assert_int_equal(ix_media_put(ix, &s, "small", 5), 0);
    assert_int_equal(ix_flush(ix), -ENOSPC);
    assert_int_equal(ix_flush(ix), 0);                  /* reported once */
    assert_int_equal(log_lines, 1);
    assert_int_equal(get_cmp(ix, &k, ""), -ENOENT);
    assert_int_equal(get_cmp(ix, &s, "small"), 0);
    ix_set_async(ix, false);                            /* synchronous again */
    assert_int_equal(ix_media_put(ix, &k, big, sizeof big), -ENOSPC);
    ix_close(ix);
}

/* Objects: any key length (a long one is hashed and checked), hits and misses counted. */
static void test_objects(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    char longkey[2000];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    ix_read_t *r;
    const void *b;
    size_t n;

    assert_int_equal(ix_obj_put(ix, "a/manifest|1:2:3:4", "<MPD/>", 6), 0);
    assert_int_equal(ix_obj_put(ix, longkey, "long", 4), 0);
    assert_int_equal(ix_read_begin(ix, &r), 0);
    assert_int_equal(ix_obj_get(r, "a/manifest|1:2:3:4", &b, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(b, "<MPD/>", 6);
    assert_int_equal(ix_obj_get(r, longkey, &b, &n), 0);
    assert_memory_equal(b, "long", 4);
    longkey[1000] = 'x';        /* same length, other bytes: another key */
    assert_int_equal(ix_obj_get(r, longkey, &b, &n), -ENOENT);
    assert_int_equal(ix_obj_get(r, "a/manifest|1:2:3:5", &b, &n), -ENOENT);
    ix_read_end(r);
    ix_stats_t st;
    assert_int_equal(ix_stats(ix, &st), 0);
    assert_int_equal(st.object_entries, 2);
    assert_int_equal(st.object_bytes, 10);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 2);
    assert_int_equal(ix_clear(ix), 0);
    assert_int_equal(ix_stats(ix, &st), 0);
    assert_int_equal(st.object_entries, 0);
    ix_close(ix);
}

static uint32_t fake_now;
static uint32_t fake_clock(void)
{
    return fake_now;
}

/* The stamp of object `key`, 0 when it has none. */
static uint32_t stamp_of(ix_t *ix, const char *key)
{
    dbkey_t k;
    ix_file_key_t fk = obj_key(key);
    uint8_t sk[1 + HASH_LEN];
    MDB_txn *txn;
    MDB_val kv = { sizeof sk, sk }, v;
    uint32_t when = 0;
    key_encode(&fk, ix->maxkey, &k);
    stamp_key('o', k.b, k.len, sk);
    assert_int_equal(mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn), 0);
    if (mdb_get(txn, ix->stamps, &kv, &v) == 0)
        when = get_be32(v.mv_data);
    mdb_txn_abort(txn);
    return when;
}

static int obj_present(ix_t *ix, const char *key)
{
    ix_read_t *r;
    const void *b;
    size_t n;
    assert_int_equal(ix_read_begin(ix, &r), 0);
    int rc = ix_obj_get(r, key, &b, &n);
    ix_read_end(r);
    return rc == 0;
}

/* Least recently used eviction by the writer: a hit is stamped (without the reader writing),
 * and when the map passes EVICT_HIGH the oldest stamps go first. */
static void test_eviction(void **state)
{
    (void)state;
    enum { MAPSZ = 2 << 20, VAL = 200 << 10 };
    static uint8_t val[VAL];
    ix_t *ix = open_ix(tmpdir, MAPSZ);
    ix_read_t *r;
    const void *b;
    size_t n;

    now_s = fake_clock;
    ix_set_async(ix, true);
    fake_now = 1000;
    assert_int_equal(ix_obj_put(ix, "B", val, VAL), 0);
    assert_int_equal(ix_obj_put(ix, "C", val, VAL), 0);
    assert_int_equal(ix_flush(ix), 0);
    fake_now = 2000;
    assert_int_equal(ix_obj_put(ix, "A", val, VAL), 0);
    assert_int_equal(ix_flush(ix), 0);
    assert_int_equal(stamp_of(ix, "B"), 1000);
    fake_now = 3000;
    assert_int_equal(ix_read_begin(ix, &r), 0);
    assert_int_equal(ix_obj_get(r, "B", &b, &n), 0);    /* a hit: remembered, not written */
    ix_read_end(r);
    assert_int_equal(stamp_of(ix, "B"), 1000);
    assert_int_equal(ix_obj_put(ix, "D", val, VAL), 0); /* the writer stamps B with it */
    assert_int_equal(ix_flush(ix), 0);
    assert_int_equal(stamp_of(ix, "B"), 3000);
    fake_now = 4000;
    char name[16];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "N%d", i);
        assert_int_equal(ix_obj_put(ix, name, val, VAL), 0);
        assert_int_equal(ix_flush(ix), 0);
    }
    ix_stats_t st;
    assert_int_equal(ix_stats(ix, &st), 0);
    assert_true(st.evicted >= 2);
    assert_true(st.used_bytes <= (uint64_t)(MAPSZ * EVICT_HIGH));
    assert_false(obj_present(ix, "C"));                 /* the oldest went first */
    assert_false(obj_present(ix, "A"));
    assert_true(obj_present(ix, "N5"));                 /* the newest stayed */
    now_s = clock_real;
    ix_close(ix);
}

/* A batch that does not fit the map: the writer evicts old entries and writes it. */
static void test_eviction_map_full(void **state)
{
    (void)state;
    enum { MAPSZ = 1 << 20, VAL = 300 << 10 };
    static uint8_t val[VAL];
    ix_t *ix = open_ix(tmpdir, MAPSZ);
    now_s = fake_clock;
    fake_now = 100;
    assert_int_equal(ix_obj_put(ix, "old1", val, VAL), 0);  /* synchronous: no writer yet */
    assert_int_equal(ix_obj_put(ix, "old2", val, VAL), 0);
    ix_set_async(ix, true);
    fake_now = 200;
    assert_int_equal(ix_obj_put(ix, "new1", val, VAL), 0);
    assert_int_equal(ix_obj_put(ix, "new2", val, VAL), 0);
    assert_int_equal(ix_flush(ix), 0);                  /* no -ENOSPC: evicted instead */
    assert_true(obj_present(ix, "new1"));
    assert_true(obj_present(ix, "new2"));
    assert_false(obj_present(ix, "old1"));
    now_s = clock_real;
    ix_close(ix);
}

/* n gets of object `key` in one snapshot (hits or misses, as it is there or not). */
static void get_n(ix_t *ix, const char *key, int n)
{
    ix_read_t *r;
    const void *b;
    size_t len;
    assert_int_equal(ix_read_begin(ix, &r), 0);
    for (int i = 0; i < n; i++)
        (void)ix_obj_get(r, key, &b, &len);
    ix_read_end(r);
}

/* The counters record as LMDB holds it (read with LMDB, not through index.c's reader). */
static void record_of(ix_t *ix, uint64_t out[C_N])
{
    MDB_txn *txn;
    MDB_val k = { 8, "counters" }, v;
    memset(out, 0, C_N * sizeof *out);
    assert_int_equal(mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn), 0);
    if (mdb_get(txn, ix->meta, &k, &v) == 0) {
        const uint8_t *p = v.mv_data;
        assert_int_equal(v.mv_size, 8 + 8 * C_N);
        assert_int_equal(get_be32(p), 1);
        for (int i = 0; i < C_N; i++)
            for (int b = 0; b < 8; b++)
                out[i] = out[i] << 8 | p[8 + 8 * i + b];
    }
    mdb_txn_abort(txn);
}

/* Hits, misses and objects stored survive a restart: a synchronous index writes them at
 * ix_close, the next process adds its own; ix_counters and ix_stats agree, and the
 * process counters start again from 0. ix_clear keeps them. */
static void test_counters_persist(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    ix_counters_t c;
    ix_stats_t st;
    uint64_t rec[C_N];

    assert_int_equal(ix_obj_put(ix, "a", "12345", 5), 0);
    assert_int_equal(ix_obj_put(ix, "b", "123", 3), 0);
    get_n(ix, "a", 3);
    get_n(ix, "x", 1);
    assert_int_equal(ix_counters(ix, &c), 0);
    assert_int_equal(c.proc.hits, 3);
    assert_int_equal(c.proc.misses, 1);
    assert_int_equal(c.life.hits, 3);
    assert_int_equal(c.life.stored, 2);
    assert_int_equal(c.life.stored_bytes, 8);
    assert_int_equal(c.object_entries, 2);
    assert_int_equal(c.entries, 2);
    assert_int_equal(c.map_size, MAP);
    assert_true(c.used_bytes > 0);
    record_of(ix, rec);
    assert_int_equal(rec[C_HITS], 0);                   /* nothing written yet */
    ix_close(ix);

    ix = open_ix(tmpdir, MAP);
    record_of(ix, rec);
    assert_int_equal(rec[C_HITS], 3);
    assert_int_equal(rec[C_MISSES], 1);
    assert_int_equal(rec[C_STORED], 2);
    assert_int_equal(rec[C_STORED_BYTES], 8);
    assert_int_equal(ix_counters(ix, &c), 0);
    assert_int_equal(c.proc.hits, 0);
    assert_int_equal(c.life.hits, 3);
    get_n(ix, "b", 2);
    get_n(ix, "y", 4);
    assert_int_equal(ix_stats(ix, &st), 0);
    assert_int_equal(st.hits, 2);                       /* this process */
    assert_int_equal(st.life.hits, 5);
    assert_int_equal(st.life.misses, 5);
    assert_int_equal(ix_clear(ix), 0);
    ix_close(ix);

    ix = open_ix(tmpdir, MAP);
    assert_int_equal(ix_stats(ix, &st), 0);
    assert_int_equal(st.object_entries, 0);
    assert_int_equal(st.life.hits, 5);
    assert_int_equal(st.life.misses, 5);
    assert_int_equal(st.life.stored, 2);
    ix_close(ix);
}

/* With the writer on, ix_flush puts the counters in the record (the daemon's path), and
 * one process's record is added to, not overwritten, by the next. */
static void test_counters_async(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    uint64_t rec[C_N];

    ix_set_async(ix, true);
    assert_int_equal(ix_obj_put(ix, "a", "1234", 4), 0);
    assert_int_equal(ix_flush(ix), 0);
    get_n(ix, "a", 7);
    get_n(ix, "z", 2);
    record_of(ix, rec);
    assert_int_equal(rec[C_HITS], 0);                   /* counted, not yet written */
    assert_int_equal(rec[C_STORED], 1);                 /* with its batch */
    assert_int_equal(ix_flush(ix), 0);
    record_of(ix, rec);
    assert_int_equal(rec[C_HITS], 7);
    assert_int_equal(rec[C_MISSES], 2);
    assert_int_equal(rec[C_STORED_BYTES], 4);
    get_n(ix, "a", 1);
    ix_close(ix);                                       /* the last hit is written too */

    ix = open_ix(tmpdir, MAP);
    ix_set_async(ix, true);
    get_n(ix, "a", 10);
    assert_int_equal(ix_flush(ix), 0);
    record_of(ix, rec);
    assert_int_equal(rec[C_HITS], 18);
    ix_close(ix);
}

/* A record an older program wrote with fewer counters: the missing ones read as 0 and
 * the known ones are kept. */
static void test_counters_short_record(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    MDB_txn *txn;
    uint8_t rec[8 + 16] = { 0, 0, 0, 1, 0, 0, 0, 2 };
    put_be64(rec + 8, 41);
    put_be64(rec + 16, 9);
    MDB_val k = { 8, "counters" }, v = { sizeof rec, rec };
    assert_int_equal(mdb_txn_begin(ix->env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_put(txn, ix->meta, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    ix_close(ix);
    ix = open_ix(tmpdir, MAP);
    ix_counters_t c;
    assert_int_equal(ix_counters(ix, &c), 0);
    assert_int_equal(c.life.hits, 41);
    assert_int_equal(c.life.misses, 9);
    assert_int_equal(c.life.evicted, 0);
    get_n(ix, "q", 1);
    ix_close(ix);
    ix = open_ix(tmpdir, MAP);
    assert_int_equal(ix_counters(ix, &c), 0);
    assert_int_equal(c.life.misses, 10);
    ix_close(ix);
}

/* Evictions (entries and bytes) are lifetime counters too. */
static void test_counters_evictions(void **state)
{
    (void)state;
    enum { MAPSZ = 1 << 20, VAL = 300 << 10 };
    static uint8_t val[VAL];
    ix_t *ix = open_ix(tmpdir, MAPSZ);
    ix_counters_t c;
    ix_set_async(ix, true);
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof name, "e%d", i);
        assert_int_equal(ix_obj_put(ix, name, val, VAL), 0);
        assert_int_equal(ix_flush(ix), 0);
    }
    assert_int_equal(ix_counters(ix, &c), 0);
    assert_true(c.proc.evicted >= 3);
    assert_true(c.proc.evicted_bytes >= c.proc.evicted * VAL);
    assert_int_equal(c.life.evicted, c.proc.evicted);
    assert_int_equal(c.life.stored, 6);
    uint64_t rec[C_N];
    record_of(ix, rec);
    assert_int_equal(rec[C_EVICTED], c.proc.evicted);  /* ix_flush waited for them */
    assert_int_equal(rec[C_EVICTED_BYTES], c.proc.evicted_bytes);
    ix_close(ix);
    ix = open_ix(tmpdir, MAPSZ);
    ix_stats_t st;
    assert_int_equal(ix_stats(ix, &st), 0);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(st.life.evicted, c.proc.evicted);
    assert_int_equal(st.life.evicted_bytes, c.proc.evicted_bytes);
    ix_close(ix);
}

struct reader_arg {
    ix_t *ix;
    atomic_int done;
};

static void *hit_reader(void *p)
{
    struct reader_arg *a = p;
    ix_counters_t c;
    get_n(a->ix, "h", 100);
    if (ix_counters(a->ix, &c) == 0 && c.proc.hits == 100)
        atomic_store(&a->done, 1);
    else
        atomic_store(&a->done, -1);
    return NULL;
}

/* Hits and ix_counters never wait for LMDB's write lock: another writer holds it the
 * whole time the reader thread runs. */
static void test_hits_without_write_lock(void **state)
{
    (void)state;
    ix_t *ix = open_ix(tmpdir, MAP);
    MDB_txn *w;
    pthread_t t;
    struct reader_arg a = { .ix = ix };
    atomic_init(&a.done, 0);
    assert_int_equal(ix_obj_put(ix, "h", "v", 1), 0);
    ix_set_async(ix, true);
    assert_int_equal(mdb_txn_begin(ix->env, NULL, 0, &w), 0);    /* takes the write lock */
    assert_int_equal(pthread_create(&t, NULL, hit_reader, &a), 0);
    for (int i = 0; i < 500 && !atomic_load(&a.done); i++)
        nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    int done = atomic_load(&a.done);
    mdb_txn_abort(w);
    pthread_join(t, NULL);
    assert_int_equal(done, 1);
    ix_close(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_changes_key, setup, teardown),
        cmocka_unit_test(test_key_encoding),
        cmocka_unit_test(test_val_check_path),
        cmocka_unit_test_setup_teardown(test_long_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_copy_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_not_a_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_and_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aux, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_puts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_short_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_evictions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hits_without_write_lock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
