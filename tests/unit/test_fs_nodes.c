/*
 * fs/nodes.c: the FUSE node ids the kernel holds. Expectations come from fs/nodes.h: a
 * node's path is its parent's path, '/', its name (the root is ""); it lives while the
 * kernel references it or it has live children; a wanted number taken by another live
 * name is replaced by the next free one of the sequence ino + k * STEP, never 0 or 1.
 * Allocations can be made to fail (malloc and calloc are wrapped around the include).
 */
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Allocations nodes.c may make before every later one fails (-1: none fails); calloc_fails
 * fails calloc alone (the table's growth). Armed only by single-threaded tests. */
static long allocs_left = -1;
static int calloc_fails;

static int alloc_ok(void)
{
    if (allocs_left < 0)
        return 1;
    if (allocs_left == 0)
        return 0;
    allocs_left--;
    return 1;
}

static void *t_malloc(size_t n)
{
    return alloc_ok() ? malloc(n) : NULL;
}

static void *t_calloc(size_t n, size_t size)
{
    return !calloc_fails && alloc_ok() ? calloc(n, size) : NULL;
}

#define malloc(n) t_malloc(n)
#define calloc(n, size) t_calloc(n, size)
#include "../../fs/nodes.c"
#undef malloc
#undef calloc

#define STEP 0x9e3779b97f4a7c15ull      /* the probe step, as documented */

static fs_nodes_t *table(void)
{
    fs_nodes_t *t = NULL;
    CHECK(fs_nodes_new(&t) == 0 && t != NULL);
    return t;
}

/* One more reference to parent's child name, wanted number want: the number used. */
static uint64_t ref(fs_nodes_t *t, uint64_t parent, const char *name, uint64_t want)
{
    uint64_t ino = want;
    CHECK(fs_nodes_ref(t, parent, &name, &ino, 1) == 0);
    return ino;
}

static void path_is(fs_nodes_t *t, uint64_t ino, const char *name, const char *want)
{
    char *s = NULL;
    CHECK(fs_nodes_path(t, ino, name, &s) == 0);
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
}

/* fs_nodes_path()'s result alone (0 or -ENOENT): whether ino lives. */
static int path_rc(fs_nodes_t *t, uint64_t ino)
{
    char *s = NULL;
    int rc = fs_nodes_path(t, ino, NULL, &s);
    if (rc == 0)
        free(s);
    return rc;
}

static int setup_each(void **state)
{
    (void)state;
    allocs_left = -1;
    calloc_fails = 0;
    return 0;
}

static void test_empty(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    CHECK(fs_nodes_count(t) == 1);                          /* the root */
    path_is(t, FS_NODES_ROOT, NULL, "");
    path_is(t, FS_NODES_ROOT, "x", "x");
    CHECK(path_rc(t, 0) == -ENOENT);
    CHECK(path_rc(t, 2) == -ENOENT);
    CHECK(fs_nodes_listed(t, FS_NODES_ROOT) == 0);
    fs_nodes_free(t);
    fs_nodes_free(NULL);                                    /* NULL-safe */
}

static void test_paths(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    uint64_t a = ref(t, FS_NODES_ROOT, "a", 10);
    uint64_t b = ref(t, a, "b.ism", 11);
    uint64_t q = ref(t, b, "QualityLevels(1)", 12);
    CHECK(a == 10 && b == 11 && q == 12);
    CHECK(fs_nodes_count(t) == 4);
    path_is(t, FS_NODES_ROOT, NULL, "");
    path_is(t, a, NULL, "a");
    path_is(t, b, NULL, "a/b.ism");
    path_is(t, q, NULL, "a/b.ism/QualityLevels(1)");
    path_is(t, FS_NODES_ROOT, "Manifest", "Manifest");
    path_is(t, a, "x", "a/x");
    path_is(t, q, "Fragments(video=0)", "a/b.ism/QualityLevels(1)/Fragments(video=0)");
    char *s = NULL;
    CHECK(fs_nodes_path(t, 999, NULL, &s) == -ENOENT);
    CHECK(fs_nodes_path(t, 999, "x", &s) == -ENOENT);
    /* a one-character chain and a long name */
    uint64_t c = ref(t, q, "c", 13);
    char long_name[300];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    char want[400];
    snprintf(want, sizeof want, "a/b.ism/QualityLevels(1)/c/%s", long_name);
    path_is(t, c, long_name, want);
    fs_nodes_forget(t, c, 1);
    fs_nodes_forget(t, q, 1);
    fs_nodes_forget(t, b, 1);
    fs_nodes_forget(t, a, 1);
    CHECK(fs_nodes_count(t) == 1);
    fs_nodes_free(t);
}

static void test_references(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    for (int i = 0; i < 3; i++)
        CHECK(ref(t, FS_NODES_ROOT, "f", 20) == 20);
    CHECK(fs_nodes_count(t) == 2);                          /* one node, three references */
    fs_nodes_forget(t, 20, 2);
    path_is(t, 20, NULL, "f");
    CHECK(fs_nodes_count(t) == 2);
    fs_nodes_forget(t, 20, 1);
    CHECK(path_rc(t, 20) == -ENOENT);
    CHECK(fs_nodes_count(t) == 1);

    /* one batch naming the same child twice: one node, two references */
    const char *names[] = { "g", "g" };
    uint64_t inos[] = { 30, 30 };
    CHECK(fs_nodes_ref(t, FS_NODES_ROOT, names, inos, 2) == 0);
    CHECK(inos[0] == 30 && inos[1] == 30);
    CHECK(fs_nodes_count(t) == 2);
    fs_nodes_forget(t, 30, 1);
    path_is(t, 30, NULL, "g");
    fs_nodes_forget(t, 30, 1);
    CHECK(path_rc(t, 30) == -ENOENT);

    /* more forgotten than held: gone, and a new node starts again at one reference */
    CHECK(ref(t, FS_NODES_ROOT, "h", 40) == 40);
    fs_nodes_forget(t, 40, 5);
    CHECK(path_rc(t, 40) == -ENOENT && fs_nodes_count(t) == 1);
    CHECK(ref(t, FS_NODES_ROOT, "h", 40) == 40);
    fs_nodes_forget(t, 40, 1);
    CHECK(path_rc(t, 40) == -ENOENT && fs_nodes_count(t) == 1);

    /* forgetting none keeps it */
    CHECK(ref(t, FS_NODES_ROOT, "k", 41) == 41);
    fs_nodes_forget(t, 41, 0);
    path_is(t, 41, NULL, "k");
    fs_nodes_forget(t, 41, 1);
    CHECK(fs_nodes_count(t) == 1);

    /* an empty batch changes nothing */
    CHECK(fs_nodes_ref(t, FS_NODES_ROOT, NULL, NULL, 0) == 0);
    CHECK(fs_nodes_count(t) == 1);
    fs_nodes_free(t);
}

static void test_parent_kept_by_child(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    uint64_t a = ref(t, FS_NODES_ROOT, "a", 50);
    uint64_t b = ref(t, a, "b", 51);
    CHECK(fs_nodes_count(t) == 3);
    fs_nodes_forget(t, a, 1);                               /* b still lives */
    CHECK(fs_nodes_count(t) == 3);
    path_is(t, a, NULL, "a");
    path_is(t, b, NULL, "a/b");
    path_is(t, b, "c", "a/b/c");
    fs_nodes_forget(t, b, 1);                               /* takes a along */
    CHECK(fs_nodes_count(t) == 1);
    CHECK(path_rc(t, a) == -ENOENT && path_rc(t, b) == -ENOENT);

    /* a chain of three, forgotten from the top: all go with the leaf */
    uint64_t x = ref(t, FS_NODES_ROOT, "x", 60);
    uint64_t y = ref(t, x, "y", 61);
    uint64_t z = ref(t, y, "z", 62);
    fs_nodes_forget(t, x, 1);
    fs_nodes_forget(t, y, 1);
    CHECK(fs_nodes_count(t) == 4);
    path_is(t, z, NULL, "x/y/z");
    fs_nodes_forget(t, z, 1);
    CHECK(fs_nodes_count(t) == 1);

    /* two children: the parent goes with the last of them only */
    uint64_t d = ref(t, FS_NODES_ROOT, "d", 70);
    uint64_t d1 = ref(t, d, "1", 71);
    uint64_t d2 = ref(t, d, "2", 72);
    fs_nodes_forget(t, d, 1);
    fs_nodes_forget(t, d1, 1);
    CHECK(fs_nodes_count(t) == 3);
    path_is(t, d2, NULL, "d/2");
    fs_nodes_forget(t, d2, 1);
    CHECK(fs_nodes_count(t) == 1);

    /* a parent kept by its child is looked up again: same number, and with a reference
     * again it outlives the child */
    uint64_t p = ref(t, FS_NODES_ROOT, "p", 80);
    uint64_t pc = ref(t, p, "c", 81);
    fs_nodes_forget(t, p, 1);
    CHECK(ref(t, FS_NODES_ROOT, "p", 80) == p);
    CHECK(fs_nodes_count(t) == 3);
    fs_nodes_forget(t, pc, 1);
    CHECK(fs_nodes_count(t) == 2);
    path_is(t, p, NULL, "p");
    fs_nodes_forget(t, p, 1);
    CHECK(fs_nodes_count(t) == 1);

    /* the child of a child kept node: refs under a parent that only children keep */
    uint64_t r = ref(t, FS_NODES_ROOT, "r", 90);
    uint64_t r1 = ref(t, r, "1", 91);
    fs_nodes_forget(t, r, 1);
    uint64_t r2 = ref(t, r, "2", 92);
    CHECK(r2 == 92);
    path_is(t, r2, NULL, "r/2");
    fs_nodes_forget(t, r1, 1);
    CHECK(fs_nodes_count(t) == 3);                          /* r kept by r2 */
    fs_nodes_forget(t, r2, 1);
    CHECK(fs_nodes_count(t) == 1);
    fs_nodes_free(t);
}

static void test_collision(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    const uint64_t w = 100;
    CHECK(ref(t, FS_NODES_ROOT, "one", w) == w);
    uint64_t two = ref(t, FS_NODES_ROOT, "two", w);
    CHECK(two != w && two != 0 && two != 1);
    CHECK(two == w + STEP);                                 /* the first of the sequence */
    path_is(t, w, NULL, "one");
    path_is(t, two, NULL, "two");
    CHECK(ref(t, FS_NODES_ROOT, "two", w) == two);          /* the same collision, same way */
    CHECK(ref(t, FS_NODES_ROOT, "one", w) == w);
    CHECK(fs_nodes_count(t) == 3);
    uint64_t four = ref(t, FS_NODES_ROOT, "four", w);       /* the next one along */
    CHECK(four == w + 2 * STEP);
    path_is(t, four, NULL, "four");

    /* the same name under another parent is another node */
    uint64_t d = ref(t, FS_NODES_ROOT, "d", 200);
    uint64_t d_one = ref(t, d, "one", w);
    CHECK(d_one == w + 3 * STEP);
    path_is(t, d_one, NULL, "d/one");
    path_is(t, w, NULL, "one");

    fs_nodes_forget(t, w, 2);                               /* "one" goes */
    CHECK(path_rc(t, w) == -ENOENT);
    CHECK(ref(t, FS_NODES_ROOT, "three", w) == w);          /* its number is free again */
    path_is(t, w, NULL, "three");
    path_is(t, two, NULL, "two");
    path_is(t, four, NULL, "four");
    CHECK(fs_nodes_count(t) == 6);

    fs_nodes_forget(t, w, 1);
    fs_nodes_forget(t, two, 2);
    fs_nodes_forget(t, four, 1);
    fs_nodes_forget(t, d, 1);
    fs_nodes_forget(t, d_one, 1);
    CHECK(fs_nodes_count(t) == 1);
    fs_nodes_free(t);
}

static void test_never_zero_or_one(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    uint64_t z = ref(t, FS_NODES_ROOT, "zero", 0);
    CHECK(z != 0 && z != 1);
    CHECK(z == STEP);
    uint64_t o = ref(t, FS_NODES_ROOT, "one", 1);
    CHECK(o != 0 && o != 1);
    CHECK(o == 1 + STEP);
    path_is(t, z, NULL, "zero");
    path_is(t, o, NULL, "one");
    path_is(t, FS_NODES_ROOT, NULL, "");                    /* the root untouched */
    CHECK(ref(t, FS_NODES_ROOT, "zero", 0) == z);
    CHECK(ref(t, FS_NODES_ROOT, "one", 1) == o);

    /* a sequence passing through 1 skips it: 1 - STEP taken, then 1, then 1 + STEP (taken
     * by "one"), so 1 + 2 * STEP */
    uint64_t before = 1 - STEP;
    CHECK(ref(t, FS_NODES_ROOT, "p", before) == before);
    uint64_t q = ref(t, FS_NODES_ROOT, "q", before);
    CHECK(q != 0 && q != 1);
    CHECK(q == 1 + 2 * STEP);
    /* and through 0 likewise: 0 - STEP taken, then 0, then STEP (taken by "zero") */
    uint64_t before0 = 0 - STEP;
    CHECK(ref(t, FS_NODES_ROOT, "r", before0) == before0);
    uint64_t s = ref(t, FS_NODES_ROOT, "s", before0);
    CHECK(s == 2 * STEP);
    path_is(t, q, NULL, "q");
    path_is(t, s, NULL, "s");
    CHECK(fs_nodes_count(t) == 7);
    path_is(t, FS_NODES_ROOT, NULL, "");
    fs_nodes_free(t);                                       /* frees the live nodes too */
}

static void test_unknown_parent(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    const char *names[] = { "a", "b" };
    uint64_t inos[] = { 5, 6 };
    CHECK(fs_nodes_ref(t, 777, names, inos, 2) == -ENOENT);
    CHECK(inos[0] == 0 && inos[1] == 0);
    CHECK(fs_nodes_count(t) == 1);

    /* a parent that lived and went */
    uint64_t d = ref(t, FS_NODES_ROOT, "d", 8);
    fs_nodes_forget(t, d, 1);
    inos[0] = 5, inos[1] = 6;
    CHECK(fs_nodes_ref(t, d, names, inos, 2) == -ENOENT);
    CHECK(inos[0] == 0 && inos[1] == 0);
    CHECK(fs_nodes_count(t) == 1);
    fs_nodes_free(t);
}

static void test_forget_harmless(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    uint64_t a = ref(t, FS_NODES_ROOT, "a", 9);
    fs_nodes_forget(t, 12345, 1);                           /* unknown */
    fs_nodes_forget(t, 0, 1);
    fs_nodes_forget(t, FS_NODES_ROOT, 1);                   /* the root never goes */
    fs_nodes_forget(t, FS_NODES_ROOT, UINT64_MAX);
    CHECK(fs_nodes_count(t) == 2);
    path_is(t, FS_NODES_ROOT, NULL, "");
    path_is(t, a, NULL, "a");
    fs_nodes_forget(t, a, 1);
    fs_nodes_forget(t, a, 1);                               /* twice: unknown now */
    CHECK(fs_nodes_count(t) == 1);
    fs_nodes_forget(t, FS_NODES_ROOT, 1);                   /* the root alone, still there */
    CHECK(fs_nodes_count(t) == 1);
    path_is(t, FS_NODES_ROOT, "b", "b");
    CHECK(ref(t, FS_NODES_ROOT, "b", 9) == 9);
    fs_nodes_forget(t, 9, 1);
    CHECK(fs_nodes_count(t) == 1);
    fs_nodes_free(t);
}

#define MANY 100000
#define BATCH 1000

/* Distinct numbers spread over the high bits; none is another's + k * STEP (the gaps are
 * far below STEP), none is 0 or 1. */
static uint64_t many_ino(size_t i)
{
    return 1000 + (uint64_t)i * 0x9e3779b1ull;
}

static void test_many(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    uint64_t d = ref(t, FS_NODES_ROOT, "dir", 2);
    CHECK(d == 2);
    char (*names)[16] = malloc(MANY * sizeof *names);
    uint64_t *inos = malloc(MANY * sizeof *inos);
    assert_non_null(names);
    assert_non_null(inos);
    for (size_t i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "n%zu", i);
        inos[i] = many_ino(i);
    }
    for (size_t i = 0; i < MANY; i += BATCH) {
        const char *np[BATCH];
        for (size_t j = 0; j < BATCH; j++)
            np[j] = names[i + j];
        CHECK(fs_nodes_ref(t, d, np, inos + i, BATCH) == 0);
    }
    CHECK(fs_nodes_count(t) == MANY + 2);
    CHECK(t->size >= MANY + 2);                              /* it grew */
    fs_nodes_forget(t, d, 1);                               /* kept by its children */
    char want[32];
    for (size_t i = 0; i < MANY; i++) {
        CHECK(inos[i] == many_ino(i));
        snprintf(want, sizeof want, "dir/%s", names[i]);
        path_is(t, inos[i], NULL, want);
    }
    for (size_t i = 0; i < MANY; i += 2)                    /* every other one */
        fs_nodes_forget(t, inos[i], 1);
    CHECK(fs_nodes_count(t) == MANY / 2 + 2);
    for (size_t i = 0; i < MANY; i++) {
        if (i % 2 == 0) {
            CHECK(path_rc(t, inos[i]) == -ENOENT);
        } else {
            snprintf(want, sizeof want, "dir/%s", names[i]);
            path_is(t, inos[i], NULL, want);
        }
    }
    for (size_t i = MANY; i-- > 0;)
        if (i % 2)
            fs_nodes_forget(t, inos[i], 1);
    CHECK(fs_nodes_count(t) == 1);
    CHECK(path_rc(t, d) == -ENOENT);
    path_is(t, FS_NODES_ROOT, NULL, "");
    free(names);
    free(inos);
    fs_nodes_free(t);
}

static void test_listed(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    uint64_t d = ref(t, FS_NODES_ROOT, "d", 3);
    CHECK(fs_nodes_listed(t, FS_NODES_ROOT) == 0);          /* never */
    CHECK(fs_nodes_listed(t, d) == 0);
    fs_nodes_set_listed(t, d, 1000);
    CHECK(fs_nodes_listed(t, d) == 1000);
    CHECK(fs_nodes_listed(t, FS_NODES_ROOT) == 0);          /* per node */
    fs_nodes_set_listed(t, d, 500);                         /* older: kept the newer */
    CHECK(fs_nodes_listed(t, d) == 1000);
    fs_nodes_set_listed(t, d, 2000);
    CHECK(fs_nodes_listed(t, d) == 2000);
    fs_nodes_set_listed(t, FS_NODES_ROOT, 7);
    CHECK(fs_nodes_listed(t, FS_NODES_ROOT) == 7);
    CHECK(fs_nodes_listed(t, 4242) == 0);                   /* unknown */
    fs_nodes_set_listed(t, 4242, 9000);                     /* unknown: nothing made */
    CHECK(fs_nodes_listed(t, 4242) == 0);
    CHECK(fs_nodes_count(t) == 2);
    fs_nodes_forget(t, d, 1);                               /* a new node of the number */
    CHECK(ref(t, FS_NODES_ROOT, "d", 3) == 3);
    CHECK(fs_nodes_listed(t, d) == 0);
    fs_nodes_forget(t, d, 1);
    fs_nodes_free(t);
}

/* Every allocation of fs_nodes_new() in turn fails: -ENOMEM, nothing leaks (ASan). */
static void test_new_out_of_memory(void **state)
{
    (void)state;
    int rc = -ENOMEM;
    long n;
    for (n = 0; n < 16; n++) {
        fs_nodes_t *t = NULL;
        allocs_left = n;
        rc = fs_nodes_new(&t);
        allocs_left = -1;
        if (rc == 0) {
            CHECK(fs_nodes_count(t) == 1);
            fs_nodes_free(t);
            break;
        }
        CHECK(rc == -ENOMEM);
    }
    CHECK(rc == 0 && n > 0);
}

/* A batch whose N-th new node fails: the entries before it have their numbers, the rest
 * 0, -ENOMEM; the path of a live node can fail too. */
static void test_ref_out_of_memory(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    const char *names[] = { "a", "b", "c" };
    int rc = -ENOMEM;
    long n;
    for (n = 0; n < 16; n++) {
        uint64_t inos[] = { 10, 11, 12 };
        allocs_left = n;
        rc = fs_nodes_ref(t, FS_NODES_ROOT, names, inos, 3);
        allocs_left = -1;
        size_t made = rc == 0 ? 3 : (size_t)n;
        CHECK(rc == 0 || rc == -ENOMEM);
        CHECK(made <= 3);
        for (size_t i = 0; i < 3; i++)
            CHECK(inos[i] == (i < made ? 10 + i : 0));
        CHECK(fs_nodes_count(t) == 1 + made);
        for (size_t i = 0; i < made; i++)
            fs_nodes_forget(t, inos[i], 1);
        CHECK(fs_nodes_count(t) == 1);
        if (rc == 0)
            break;
    }
    CHECK(rc == 0 && n == 3);                               /* one node, one allocation */

    uint64_t a = ref(t, FS_NODES_ROOT, "a", 10);
    char *s = NULL;
    allocs_left = 0;
    CHECK(fs_nodes_path(t, a, "x", &s) == -ENOMEM);
    allocs_left = -1;
    path_is(t, a, "x", "a/x");                              /* the lock was let go */
    fs_nodes_forget(t, a, 1);
    CHECK(fs_nodes_count(t) == 1);
    fs_nodes_free(t);
}

/* No number left of a name's sequence: 0 and -ENOMEM, and the batch's later entries have
 * none either (documented), the earlier ones keep theirs. */
static void test_probes_exhausted(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    const uint64_t w = 500;
    char name[PROBES][16];
    for (int i = 0; i < PROBES; i++) {
        snprintf(name[i], sizeof name[i], "p%d", i);
        CHECK(ref(t, FS_NODES_ROOT, name[i], w + (uint64_t)i * STEP) == w + (uint64_t)i * STEP);
    }
    const char *names[] = { "ok", "extra", "later" };
    uint64_t inos[] = { 600, w, 601 };
    CHECK(fs_nodes_ref(t, FS_NODES_ROOT, names, inos, 3) == -ENOMEM);
    CHECK(inos[0] == 600 && inos[1] == 0 && inos[2] == 0);
    CHECK(fs_nodes_count(t) == 1 + PROBES + 1);
    path_is(t, 600, NULL, "ok");
    CHECK(path_rc(t, 601) == -ENOENT);
    /* the names there are still found by their numbers */
    for (int i = 0; i < PROBES; i++)
        CHECK(ref(t, FS_NODES_ROOT, name[i], w) == w + (uint64_t)i * STEP);
    fs_nodes_free(t);
}

/* The table cannot grow: the chains get longer, nothing is lost; it grows later. */
static void test_grow_fails(void **state)
{
    (void)state;
    fs_nodes_t *t = table();
    size_t size = t->size;
    calloc_fails = 1;
    const size_t n = 3 * size;
    for (size_t i = 0; i < n; i++) {
        char name[24];
        snprintf(name, sizeof name, "f%zu", i);
        CHECK(ref(t, FS_NODES_ROOT, name, 10 + i) == 10 + i);
    }
    CHECK(t->size == size);
    CHECK(fs_nodes_count(t) == n + 1);
    for (size_t i = 0; i < n; i++) {
        char want[24];
        snprintf(want, sizeof want, "f%zu", i);
        path_is(t, 10 + i, NULL, want);
    }
    calloc_fails = 0;
    CHECK(ref(t, FS_NODES_ROOT, "g", 5) == 5);
    CHECK(t->size > size);
    for (size_t i = 0; i < n; i++) {
        char want[24];
        snprintf(want, sizeof want, "f%zu", i);
        path_is(t, 10 + i, NULL, want);
        fs_nodes_forget(t, 10 + i, 1);
    }
    fs_nodes_forget(t, 5, 1);
    CHECK(fs_nodes_count(t) == 1);
    fs_nodes_free(t);
}

/* ---- threads: disjoint names, one table ---------------------------------------------- */

#define THREADS 4
#define ROUNDS 300
#define FILES 64

static fs_nodes_t *shared;

/* Thread k (1..THREADS) owns directory "t<k>" numbered k << 32 and its children. Returns
 * NULL or the line of the first failed expectation (cmocka asserts only on the main
 * thread). */
static void *worker(void *arg)
{
    unsigned k = (unsigned)(uintptr_t)arg;
    const uint64_t base = (uint64_t)k << 32;
    char dir[16], names[FILES][16], want[40];
    const char *np[FILES];
    const char *dp = dir;
    snprintf(dir, sizeof dir, "t%u", k);
    for (int i = 0; i < FILES; i++) {
        snprintf(names[i], sizeof names[i], "f%d", i);
        np[i] = names[i];
    }
#define FAIL_UNLESS(x) do { if (!(x)) return (void *)(uintptr_t)__LINE__; } while (0)
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t d = base;
        FAIL_UNLESS(fs_nodes_ref(shared, FS_NODES_ROOT, &dp, &d, 1) == 0 && d == base);
        uint64_t refs = 1 + (uint64_t)(r % 3);
        uint64_t inos[FILES];
        for (uint64_t j = 0; j < refs; j++) {
            for (int i = 0; i < FILES; i++)
                inos[i] = base + 1 + (uint64_t)i;
            FAIL_UNLESS(fs_nodes_ref(shared, d, np, inos, FILES) == 0);
            for (int i = 0; i < FILES; i++)
                FAIL_UNLESS(inos[i] == base + 1 + (uint64_t)i);
        }
        fs_nodes_set_listed(shared, d, r + 1);
        FAIL_UNLESS(fs_nodes_listed(shared, d) == r + 1);
        fs_nodes_forget(shared, d, 1);                      /* kept by the children */
        FAIL_UNLESS(fs_nodes_count(shared) >= 1 + 1 + FILES);
        for (int i = 0; i < FILES; i++) {
            char *s = NULL;
            snprintf(want, sizeof want, "t%u/f%d", k, i);
            FAIL_UNLESS(fs_nodes_path(shared, inos[i], NULL, &s) == 0);
            int same = strcmp(s, want) == 0;
            free(s);
            FAIL_UNLESS(same);
        }
        for (int i = 0; i < FILES; i++) {
            if (r % 2)                                      /* one at a time, or all at once */
                for (uint64_t j = 0; j < refs; j++)
                    fs_nodes_forget(shared, inos[i], 1);
            else
                fs_nodes_forget(shared, inos[i], refs);
        }
        char *s = NULL;
        FAIL_UNLESS(fs_nodes_path(shared, d, NULL, &s) == -ENOENT);
        FAIL_UNLESS(fs_nodes_path(shared, base + 1, NULL, &s) == -ENOENT);
    }
#undef FAIL_UNLESS
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    shared = table();
    pthread_t th[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, worker, (void *)(i + 1)) == 0);
    for (int i = 0; i < THREADS; i++) {
        void *r;
        CHECK(pthread_join(th[i], &r) == 0);
        if (r)
            print_error("worker %d failed at line %lu\n", i + 1, (unsigned long)(uintptr_t)r);
        CHECK(r == NULL);
    }
    CHECK(fs_nodes_count(shared) == 1);
    path_is(shared, FS_NODES_ROOT, NULL, "");
    fs_nodes_free(shared);
    shared = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_empty, setup_each),
        cmocka_unit_test_setup(test_paths, setup_each),
        cmocka_unit_test_setup(test_references, setup_each),
        cmocka_unit_test_setup(test_parent_kept_by_child, setup_each),
        cmocka_unit_test_setup(test_collision, setup_each),
        cmocka_unit_test_setup(test_never_zero_or_one, setup_each),
        cmocka_unit_test_setup(test_unknown_parent, setup_each),
        cmocka_unit_test_setup(test_forget_harmless, setup_each),
        cmocka_unit_test_setup(test_many, setup_each),
        cmocka_unit_test_setup(test_listed, setup_each),
        cmocka_unit_test_setup(test_new_out_of_memory, setup_each),
        cmocka_unit_test_setup(test_ref_out_of_memory, setup_each),
        cmocka_unit_test_setup(test_probes_exhausted, setup_each),
        cmocka_unit_test_setup(test_grow_fails, setup_each),
        cmocka_unit_test_setup(test_threads, setup_each),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
