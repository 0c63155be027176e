#include "nodes.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct node {
    uint64_t ino;
    struct node *parent;        /* NULL: the root */
    struct node *next;          /* in its hash chain */
    uint64_t nlookup;           /* the kernel's references */
    uint64_t kids;              /* live nodes whose parent this is */
    int64_t listed_ns;          /* fs_nodes_set_listed() */
    char name[];
} node_t;

struct fs_nodes {
    pthread_mutex_t lock;
    node_t **slot;              /* [size], chains by ino */
    size_t size;                /* a power of two */
    size_t count;               /* live nodes */
    node_t *root;
};

/* The numbers tried for a name whose wanted number is taken: a fixed odd step, so the
 * same collision resolves the same way; 0 and the root's 1 are never handed out. */
#define PROBES 8
#define PROBE_STEP 0x9e3779b97f4a7c15ull

static size_t slot_of(const fs_nodes_t *t, uint64_t ino)
{
    return (size_t)((ino * 0xff51afd7ed558ccdull) >> 32) & (t->size - 1);
}

static node_t *find(const fs_nodes_t *t, uint64_t ino)
{
    for (node_t *n = t->slot[slot_of(t, ino)]; n; n = n->next)
        if (n->ino == ino)
            return n;
    return NULL;
}

static void insert(fs_nodes_t *t, node_t *n)
{
    size_t s = slot_of(t, n->ino);
    n->next = t->slot[s];
    t->slot[s] = n;
    t->count++;
}

static void unlink_node(fs_nodes_t *t, node_t *n)
{
    for (node_t **p = &t->slot[slot_of(t, n->ino)]; *p; p = &(*p)->next)
        if (*p == n) {
            *p = n->next;
            t->count--;
            return;
        }
}

/* Doubles the table once it holds more nodes than slots (a failed allocation only
 * leaves the chains longer). */
static void grow(fs_nodes_t *t)
{
    if (t->count < t->size)
        return;
    node_t **old = t->slot;
    size_t old_size = t->size;
    node_t **slot = calloc(old_size * 2, sizeof *slot);
    if (!slot)
        return;
    t->slot = slot;
    t->size = old_size * 2;
    t->count = 0;
    for (size_t i = 0; i < old_size; i++)
        for (node_t *n = old[i], *next; n; n = next) {
            next = n->next;
            insert(t, n);
        }
    free(old);
}

int fs_nodes_new(fs_nodes_t **out)
{
    fs_nodes_t *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->size = 1024;
    t->slot = calloc(t->size, sizeof *t->slot);
    t->root = calloc(1, sizeof *t->root + 1);
    if (!t->slot || !t->root) {
        free(t->slot);
        free(t->root);
        free(t);
        return -ENOMEM;
    }
    t->root->ino = FS_NODES_ROOT;
    t->root->nlookup = 1;       /* the kernel never forgets the root */
    insert(t, t->root);
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return 0;
}

void fs_nodes_free(fs_nodes_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->size; i++)
        for (node_t *n = t->slot[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    free(t->slot);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Writes part just before s[*end], and a '/' before it unless it starts s. */
static void prepend(char *s, size_t *end, const char *part)
{
    size_t l = strlen(part);
    *end -= l;
    memcpy(s + *end, part, l);
    if (*end)
        s[--*end] = '/';
}

int fs_nodes_path(fs_nodes_t *t, uint64_t ino, const char *name, char **out)
{
    size_t len = name ? strlen(name) : 0;
    pthread_mutex_lock(&t->lock);
    node_t *n = find(t, ino);
    if (!n) {
        pthread_mutex_unlock(&t->lock);
        return -ENOENT;
    }
    size_t parts = name ? 1 : 0;
    for (node_t *p = n; p->parent; p = p->parent, parts++)
        len += strlen(p->name);
    len += parts ? parts - 1 : 0;               /* the '/' between them */
    char *s = malloc(len + 1);
    if (!s) {
        pthread_mutex_unlock(&t->lock);
        return -ENOMEM;
    }
    size_t end = len;
    s[end] = '\0';
    if (name)
        prepend(s, &end, name);
    for (node_t *p = n; p->parent; p = p->parent)
        prepend(s, &end, p->name);
    pthread_mutex_unlock(&t->lock);
    *out = s;
    return 0;
}

/* parent's child name numbered ino (or the next free number): its node with one more
 * reference, or NULL (lock held) */
static node_t *ref_one(fs_nodes_t *t, node_t *parent, const char *name, uint64_t ino)
{
    for (int i = 0; i < PROBES; i++, ino += PROBE_STEP) {
        if (ino <= FS_NODES_ROOT)
            continue;
        node_t *n = find(t, ino);
        if (n && n->parent == parent && strcmp(n->name, name) == 0) {
            n->nlookup++;
            return n;
        }
        if (n)
            continue;                           /* another name's number */
        size_t l = strlen(name);
        if (!(n = malloc(sizeof *n + l + 1)))
            return NULL;
        *n = (node_t){ .ino = ino, .parent = parent, .nlookup = 1 };
        memcpy(n->name, name, l + 1);
        parent->kids++;
        insert(t, n);
        grow(t);
        return n;
    }
    return NULL;
}

int fs_nodes_ref(fs_nodes_t *t, uint64_t parent, const char *const *names, uint64_t *inos,
                 size_t n)
{
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    node_t *p = find(t, parent);
    for (size_t i = 0; i < n; i++) {
        node_t *c = p && rc == 0 ? ref_one(t, p, names[i], inos[i]) : NULL;
        if (!c && rc == 0)
            rc = p ? -ENOMEM : -ENOENT;
        inos[i] = c ? c->ino : 0;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void fs_nodes_forget(fs_nodes_t *t, uint64_t ino, uint64_t count)
{
    pthread_mutex_lock(&t->lock);
    node_t *n = find(t, ino);
    if (n && n != t->root) {
        n->nlookup = count < n->nlookup ? n->nlookup - count : 0;
        /* a node without references or children goes, and may take its parent along */
        while (n && n != t->root && n->nlookup == 0 && n->kids == 0) {
            node_t *parent = n->parent;
            unlink_node(t, n);
            free(n);
            parent->kids--;
            n = parent;
        }
    }
    pthread_mutex_unlock(&t->lock);
}

void fs_nodes_set_listed(fs_nodes_t *t, uint64_t ino, int64_t t_ns)
{
    pthread_mutex_lock(&t->lock);
    node_t *n = find(t, ino);
    if (n && t_ns > n->listed_ns)
        n->listed_ns = t_ns;
    pthread_mutex_unlock(&t->lock);
}

int64_t fs_nodes_listed(fs_nodes_t *t, uint64_t ino)
{
    pthread_mutex_lock(&t->lock);
    node_t *n = find(t, ino);
    int64_t v = n ? n->listed_ns : 0;
    pthread_mutex_unlock(&t->lock);
    return v;
}

size_t fs_nodes_count(fs_nodes_t *t)
{
    pthread_mutex_lock(&t->lock);
    size_t c = t->count;
    pthread_mutex_unlock(&t->lock);
    return c;
}
