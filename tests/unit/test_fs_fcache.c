/*
 * fs/fcache.c: the table the filter-file, CPIX and asset caches share. The oracle is a
 * ledger of entries made and destroyed kept by the test's own destroy function: an entry
 * is alive exactly until the test expects it gone, never destroyed twice, never used after
 * (ASan would see that), and none leaks (every test ends with fini and an empty ledger).
 */
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../fs/fcache.c"

typedef struct {
    fs_fcache_entry_t entry;
    char name[32];
    int serial;                 /* which build of its key */
} item_t;

static pthread_mutex_t ledger_lock = PTHREAD_MUTEX_INITIALIZER;
static int made, destroyed;
static char last_destroyed[48];

static void item_destroy(fs_fcache_entry_t *e)
{
    item_t *it = FS_FCACHE_OWNER(e, item_t, entry);
    pthread_mutex_lock(&ledger_lock);
    destroyed++;
    snprintf(last_destroyed, sizeof last_destroyed, "%s#%d", it->name, it->serial);
    pthread_mutex_unlock(&ledger_lock);
    free(it);
}

/* A new entry for key built from file version `version`. */
static item_t *item(const char *key, uint64_t version, int serial)
{
    item_t *it = calloc(1, sizeof *it);
    assert_non_null(it);
    snprintf(it->name, sizeof it->name, "%s", key);
    it->entry.key = it->name;
    it->entry.id = (fs_fcache_id_t){ 1, 100, 10, (int64_t)version };
    it->serial = serial;
    pthread_mutex_lock(&ledger_lock);
    made++;
    pthread_mutex_unlock(&ledger_lock);
    return it;
}

static fs_fcache_id_t version(uint64_t v)
{
    return (fs_fcache_id_t){ 1, 100, 10, (int64_t)v };
}

static int alive(void)
{
    pthread_mutex_lock(&ledger_lock);
    int n = made - destroyed;
    pthread_mutex_unlock(&ledger_lock);
    return n;
}

/* Puts a new entry and releases it at once: the table holds it unreferenced. */
static item_t *put_released(fs_fcache_t *c, const char *key, uint64_t v)
{
    item_t *it = item(key, v, 0);
    fs_fcache_entry_t *got;
    CHECK(fs_fcache_put(c, &it->entry, FS_FCACHE_REPLACE, &got) == 1);
    CHECK(got == &it->entry);
    fs_fcache_release(got);
    return it;
}

static int setup_each(void **state)
{
    (void)state;
    made = destroyed = 0;
    last_destroyed[0] = '\0';
    return 0;
}

static int teardown_each(void **state)
{
    (void)state;
    return alive() == 0 ? 0 : -1;   /* a leak fails the test */
}

static void test_hit_and_miss(void **state)
{
    (void)state;
    fs_fcache_t c;
    fs_fcache_init(&c, 4, item_destroy);
    fs_fcache_id_t v1 = version(1);
    CHECK(fs_fcache_get(&c, "a", &v1) == NULL);            /* empty */
    item_t *a = put_released(&c, "a", 1);
    fs_fcache_entry_t *e = fs_fcache_get(&c, "a", &v1);
    CHECK(e == &a->entry);
    CHECK(fs_fcache_get(&c, "b", &v1) == NULL);            /* another key */
    CHECK(fs_fcache_get(&c, "a", NULL) == &a->entry);      /* the owner checks itself */
    CHECK(a->entry.refs == 2);
    fs_fcache_release(e);
    fs_fcache_release(e);
    CHECK(alive() == 1 && c.count == 1);                   /* kept for the next request */
    fs_fcache_release(NULL);                               /* NULL-safe */
    fs_fcache_fini(&c);
    CHECK(alive() == 0);
}

static void test_identity(void **state)
{
    (void)state;
    struct stat st = { 0 };
    st.st_dev = 3, st.st_ino = 4, st.st_size = 5;
    st.st_mtim.tv_sec = 6, st.st_mtim.tv_nsec = 7;
    fs_fcache_id_t id = fs_fcache_id(&st), other;
    CHECK(id.dev == 3 && id.ino == 4 && id.size == 5 && id.mtime_ns == 6000000007);
    CHECK(fs_fcache_id_same(&id, &id));
    other = id, other.dev++;
    CHECK(!fs_fcache_id_same(&id, &other));
    other = id, other.ino++;
    CHECK(!fs_fcache_id_same(&id, &other));
    other = id, other.size++;
    CHECK(!fs_fcache_id_same(&id, &other));
    other = id, other.mtime_ns++;                           /* a touch within the second */
    CHECK(!fs_fcache_id_same(&id, &other));
}

/* A file changed: its old entry is no hit, the rebuilt one replaces it, and the old one is
 * destroyed when its last user lets go (not before: that request still reads it). */
static void test_stale_rebuilt(void **state)
{
    (void)state;
    fs_fcache_t c;
    fs_fcache_init(&c, 4, item_destroy);
    fs_fcache_id_t v1 = version(1), v2 = version(2);
    item_t *old = put_released(&c, "a", 1);
    fs_fcache_entry_t *held = fs_fcache_get(&c, "a", &v1);
    CHECK(held == &old->entry);
    CHECK(fs_fcache_get(&c, "a", &v2) == NULL);            /* the new version: a miss */
    CHECK(c.count == 1);                                   /* ... which drops nothing */
    item_t *now = item("a", 2, 1);
    fs_fcache_entry_t *got;
    CHECK(fs_fcache_put(&c, &now->entry, FS_FCACHE_REPLACE, &got) == 1 && got == &now->entry);
    CHECK(c.count == 1 && alive() == 2);                   /* old: out, but held */
    CHECK(fs_fcache_get(&c, "a", &v1) == NULL);
    CHECK(fs_fcache_get(&c, "a", &v2) == &now->entry);
    fs_fcache_release(&now->entry);
    fs_fcache_release(held);
    CHECK(alive() == 1 && strcmp(last_destroyed, "a#0") == 0);
    fs_fcache_release(got);
    CHECK(alive() == 1);                                   /* the table keeps the new one */
    fs_fcache_fini(&c);
}

/* An unreferenced old version is destroyed as soon as a new one replaces it. */
static void test_replace_unreferenced(void **state)
{
    (void)state;
    fs_fcache_t c;
    fs_fcache_init(&c, 4, item_destroy);
    put_released(&c, "a", 1);
    put_released(&c, "a", 2);
    CHECK(c.count == 1 && alive() == 1 && strcmp(last_destroyed, "a#0") == 0);
    fs_fcache_fini(&c);
}

/* Two requests read the same new version at once (filter files): the second one put uses
 * the first one's entry, and its own is destroyed. */
static void test_same_version_built_twice(void **state)
{
    (void)state;
    fs_fcache_t c;
    fs_fcache_init(&c, 4, item_destroy);
    uint64_t s1 = fs_fcache_seq(&c), s2 = fs_fcache_seq(&c);
    item_t *first = item("a", 1, 1), *second = item("a", 1, 2);
    fs_fcache_entry_t *g1, *g2;
    CHECK(fs_fcache_put(&c, &first->entry, s1, &g1) == 1 && g1 == &first->entry);
    CHECK(fs_fcache_put(&c, &second->entry, s2, &g2) == 0 && g2 == &first->entry);
    CHECK(alive() == 1 && strcmp(last_destroyed, "a#2") == 0);
    CHECK(first->entry.refs == 2 && c.count == 1);
    fs_fcache_release(g1);
    fs_fcache_release(g2);
    fs_fcache_fini(&c);
}

/* A build that began before another one was put (filter files): the later one stays, the
 * earlier serves its request alone and goes with it. */
static void test_older_build_loses(void **state)
{
    (void)state;
    fs_fcache_t c;
    fs_fcache_init(&c, 4, item_destroy);
    uint64_t early = fs_fcache_seq(&c);
    put_released(&c, "a", 2);                              /* began later, put first */
    item_t *late = item("a", 1, 7);
    fs_fcache_entry_t *got;
    CHECK(fs_fcache_put(&c, &late->entry, early, &got) == 0 && got == &late->entry);
    fs_fcache_id_t v2 = version(2);
    fs_fcache_entry_t *e = fs_fcache_get(&c, "a", &v2);
    CHECK(e && e != got && c.count == 1);
    fs_fcache_release(e);
    CHECK(alive() == 2);
    fs_fcache_release(got);
    CHECK(alive() == 1 && strcmp(last_destroyed, "a#7") == 0);
    /* with FS_FCACHE_REPLACE the same order replaces (CPIX documents, assets) */
    item_t *again = item("a", 1, 8);
    CHECK(fs_fcache_put(&c, &again->entry, FS_FCACHE_REPLACE, &got) == 1);
    fs_fcache_release(got);
    CHECK(alive() == 1 && c.count == 1 && strcmp(last_destroyed, "a#0") == 0);
    fs_fcache_fini(&c);
}

/* Over capacity the least recently used unreferenced entry goes; a get counts as a use. */
static void test_evicts_lru(void **state)
{
    (void)state;
    fs_fcache_t c;
    fs_fcache_init(&c, 3, item_destroy);
    fs_fcache_id_t v1 = version(1);
    put_released(&c, "a", 1);
    put_released(&c, "b", 1);
    put_released(&c, "c", 1);
    fs_fcache_release(fs_fcache_get(&c, "a", &v1));        /* a is used again: b is oldest */
    put_released(&c, "d", 1);
    CHECK(c.count == 3 && alive() == 3 && strcmp(last_destroyed, "b#0") == 0);
    CHECK(fs_fcache_get(&c, "b", &v1) == NULL);
    put_released(&c, "e", 1);
    CHECK(c.count == 3 && strcmp(last_destroyed, "c#0") == 0);
    for (int i = 0; i < 20; i++) {                         /* capacity holds */
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        put_released(&c, k, 1);
        CHECK(c.count == 3 && alive() == 3);
    }
    fs_fcache_fini(&c);
}

/* An entry in use is never evicted: the LRU one nobody holds goes instead; with every
 * entry held the table grows past max until one is released and another put. */
static void test_held_not_evicted(void **state)
{
    (void)state;
    fs_fcache_t c;
    fs_fcache_init(&c, 2, item_destroy);
    fs_fcache_id_t v1 = version(1);
    put_released(&c, "a", 1);
    put_released(&c, "b", 1);
    fs_fcache_entry_t *a = fs_fcache_get(&c, "a", &v1);
    fs_fcache_release(fs_fcache_get(&c, "b", &v1));        /* b newer than a, but free */
    put_released(&c, "c", 1);
    CHECK(strcmp(last_destroyed, "b#0") == 0 && alive() == 2);
    fs_fcache_entry_t *cc = fs_fcache_get(&c, "c", &v1);
    item_t *d = item("d", 1, 0);
    fs_fcache_entry_t *dd;
    fs_fcache_put(&c, &d->entry, FS_FCACHE_REPLACE, &dd);  /* a, c, d all held */
    CHECK(c.count == 3 && alive() == 3);
    fs_fcache_release(a);
    fs_fcache_release(cc);
    fs_fcache_release(dd);
    CHECK(alive() == 3);                                   /* releases evict nothing */
    put_released(&c, "e", 1);
    CHECK(c.count == 3 && strcmp(last_destroyed, "a#0") == 0);
    fs_fcache_fini(&c);
    CHECK(alive() == 0);
}

/* An owner finds its entry out of date (assets: a source changed): dropped, it is no hit,
 * and it lives until its holder releases it. */
static void test_drop(void **state)
{
    (void)state;
    fs_fcache_t c;
    fs_fcache_init(&c, 4, item_destroy);
    put_released(&c, "a", 1);
    fs_fcache_entry_t *e = fs_fcache_get(&c, "a", NULL);
    fs_fcache_entry_t *e2 = fs_fcache_get(&c, "a", NULL);
    fs_fcache_drop(e);
    fs_fcache_drop(e2);                                    /* a second drop: nothing */
    CHECK(c.count == 0 && fs_fcache_get(&c, "a", NULL) == NULL && alive() == 1);
    fs_fcache_release(e);
    CHECK(alive() == 1);
    fs_fcache_release(e2);
    CHECK(alive() == 0);
    fs_fcache_fini(&c);
}

/* An entry known to be out of date when built (assets: the .ism changed while read)
 * serves its caller alone. */
static void test_alone(void **state)
{
    (void)state;
    fs_fcache_t c;
    fs_fcache_init(&c, 4, item_destroy);
    put_released(&c, "a", 1);
    item_t *it = item("a", 2, 5);
    fs_fcache_alone(&c, &it->entry);
    fs_fcache_id_t v2 = version(2);
    CHECK(fs_fcache_get(&c, "a", &v2) == NULL && c.count == 1);
    fs_fcache_release(&it->entry);
    CHECK(alive() == 1 && strcmp(last_destroyed, "a#5") == 0);
    fs_fcache_fini(&c);
}

/* A failed build puts nothing: the next request misses and builds again. */
static void test_build_failure(void **state)
{
    (void)state;
    fs_fcache_t c;
    fs_fcache_init(&c, 4, item_destroy);
    fs_fcache_id_t v1 = version(1);
    uint64_t s = fs_fcache_seq(&c);
    CHECK(fs_fcache_get(&c, "a", &v1) == NULL);
    CHECK(fs_fcache_seq(&c) == s && c.count == 0);         /* nothing was put */
    CHECK(fs_fcache_get(&c, "a", &v1) == NULL);
    fs_fcache_fini(&c);
}

/* Many threads get, rebuild and release a few keys at once: no entry is freed while held
 * (ASan), none leaks, the table stays within bounds at rest. */
enum { THREADS = 4, ROUNDS = 2000, KEYS = 6 };

static fs_fcache_t shared;

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        char k[16];
        seed = seed * 1103515245u + 12345u;
        snprintf(k, sizeof k, "k%u", (seed >> 16) % KEYS);
        fs_fcache_id_t v = version((seed >> 8) % 3);
        fs_fcache_entry_t *e = fs_fcache_get(&shared, k, &v);
        if (!e) {
            uint64_t since = (seed & 1) ? fs_fcache_seq(&shared) : FS_FCACHE_REPLACE;
            item_t *it = item(k, (uint64_t)v.mtime_ns, i);
            fs_fcache_put(&shared, &it->entry, since, &e);
        }
        item_t *it = FS_FCACHE_OWNER(e, item_t, entry);
        if (strcmp(it->name, k) != 0)                      /* touch it: ASan sees a free */
            return (void *)1;
        if ((seed >> 4) % 7 == 0)
            fs_fcache_drop(e);
        fs_fcache_release(e);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    fs_fcache_init(&shared, KEYS / 2, item_destroy);
    for (uintptr_t i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(i + 1)) == 0);
    for (int i = 0; i < THREADS; i++) {
        void *r;
        CHECK(pthread_join(t[i], &r) == 0 && r == NULL);
    }
    CHECK(shared.count <= KEYS / 2 + THREADS);
    int n = 0;
    for (fs_fcache_entry_t *e = shared.head; e; e = e->next, n++)
        CHECK(e->refs == 0 && !e->out);
    CHECK((uint32_t)n == shared.count && alive() == n);
    fs_fcache_fini(&shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hit_and_miss, setup_each, teardown_each),
        cmocka_unit_test_setup_teardown(test_identity, setup_each, teardown_each),
        cmocka_unit_test_setup_teardown(test_stale_rebuilt, setup_each, teardown_each),
        cmocka_unit_test_setup_teardown(test_replace_unreferenced, setup_each, teardown_each),
        cmocka_unit_test_setup_teardown(test_same_version_built_twice, setup_each,
                                        teardown_each),
        cmocka_unit_test_setup_teardown(test_older_build_loses, setup_each, teardown_each),
        cmocka_unit_test_setup_teardown(test_evicts_lru, setup_each, teardown_each),
        cmocka_unit_test_setup_teardown(test_held_not_evicted, setup_each, teardown_each),
        cmocka_unit_test_setup_teardown(test_drop, setup_each, teardown_each),
        cmocka_unit_test_setup_teardown(test_alone, setup_each, teardown_each),
        cmocka_unit_test_setup_teardown(test_build_failure, setup_each, teardown_each),
        cmocka_unit_test_setup_teardown(test_threads, setup_each, teardown_each),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
