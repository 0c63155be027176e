#include "fcache.h"

#include <string.h>

void fs_fcache_init(fs_fcache_t *c, uint32_t max, void (*destroy)(fs_fcache_entry_t *e))
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->max = max;
    c->destroy = destroy;
}

void fs_fcache_fini(fs_fcache_t *c)
{
    for (fs_fcache_entry_t *e = c->head, *next; e; e = next) {
        next = e->next;
        c->destroy(e);
    }
    c->head = NULL;
    c->count = 0;
    pthread_mutex_destroy(&c->lock);
}

fs_fcache_id_t fs_fcache_id(const struct stat *st)
{
    return (fs_fcache_id_t){
        (uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
        (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec };
}

int fs_fcache_id_same(const fs_fcache_id_t *a, const fs_fcache_id_t *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns;
}

/* The table's entry of key, or NULL (lock held). */
static fs_fcache_entry_t *find(fs_fcache_t *c, const char *key)
{
    fs_fcache_entry_t *e;
    for (e = c->head; e && strcmp(e->key, key) != 0; e = e->next)
        ;
    return e;
}

/* Takes e out of the table (lock held; e is in it). */
static void unlink_entry(fs_fcache_t *c, fs_fcache_entry_t *e)
{
    for (fs_fcache_entry_t **p = &c->head; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            c->count--;
            break;
        }
    }
    e->next = NULL;
    e->out = 1;
}

fs_fcache_entry_t *fs_fcache_get(fs_fcache_t *c, const char *key, const fs_fcache_id_t *id)
{
    pthread_mutex_lock(&c->lock);
    fs_fcache_entry_t *e = find(c, key);
    if (e && id && !fs_fcache_id_same(&e->id, id))
        e = NULL;
    if (e) {
        e->refs++;
        e->used = ++c->clock;
    }
    pthread_mutex_unlock(&c->lock);
    return e;
}

uint64_t fs_fcache_seq(fs_fcache_t *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t s = c->seq;
    pthread_mutex_unlock(&c->lock);
    return s;
}

int fs_fcache_put(fs_fcache_t *c, fs_fcache_entry_t *e, uint64_t since,
                  fs_fcache_entry_t **out)
{
    fs_fcache_entry_t *o, *drop = NULL, *evict = NULL;

    e->cache = c;
    e->refs = 1;
    e->out = 0;
    pthread_mutex_lock(&c->lock);
    o = find(c, e->key);
    if (o && since != FS_FCACHE_REPLACE && fs_fcache_id_same(&o->id, &e->id)) {
        o->refs++;
        o->used = ++c->clock;
        pthread_mutex_unlock(&c->lock);
        c->destroy(e);
        *out = o;
        return 0;
    }
    if (o && since != FS_FCACHE_REPLACE && o->seq > since) {
        e->out = 1;
        pthread_mutex_unlock(&c->lock);
        *out = e;
        return 0;
    }
    if (o) {
        unlink_entry(c, o);
        if (o->refs == 0)
            drop = o;
    }
    e->next = c->head;
    c->head = e;
    c->count++;
    e->used = ++c->clock;
    e->seq = ++c->seq;
    if (c->count > c->max) {
        for (o = c->head; o; o = o->next)
            if (o->refs == 0 && (!evict || o->used < evict->used))
                evict = o;
        if (evict)
            unlink_entry(c, evict);
    }
    pthread_mutex_unlock(&c->lock);
    /* destroyed outside the lock: an owner's destroy may be slow (wiping, closing) */
    if (drop)
        c->destroy(drop);
    if (evict)
        c->destroy(evict);
    *out = e;
    return 1;
}

void fs_fcache_alone(fs_fcache_t *c, fs_fcache_entry_t *e)
{
    e->cache = c;
    e->refs = 1;
    e->out = 1;
    e->next = NULL;
}

void fs_fcache_drop(fs_fcache_entry_t *e)
{
    fs_fcache_t *c = e->cache;
    pthread_mutex_lock(&c->lock);
    if (!e->out)
        unlink_entry(c, e);
    pthread_mutex_unlock(&c->lock);
}

void fs_fcache_release(fs_fcache_entry_t *e)
{
    if (!e)
        return;
    fs_fcache_t *c = e->cache;
    pthread_mutex_lock(&c->lock);
    int last = --e->refs == 0 && e->out;
    pthread_mutex_unlock(&c->lock);
    if (last)
        c->destroy(e);
}
