/*
 * The inode numbers the kernel holds (FUSE node ids): for each, the name it was given
 * under its parent and the kernel's count of references to it (LOOKUP and READDIRPLUS add
 * one per entry, FORGET takes them back). A node's path is its parent's path and its name.
 *
 * The number of a name is chosen by the caller (fs/mount.c: a hash of the path and of the
 * version of what it names) and kept unless another live node already has it; then the
 * table hands out the next free number of a fixed probe sequence. A node lives while the
 * kernel references it or it has live children.
 */
#ifndef FS_NODES_H
#define FS_NODES_H

#include <stddef.h>
#include <stdint.h>

#define FS_NODES_ROOT 1         /* FUSE_ROOT_ID: the root, always present, path "" */

typedef struct fs_nodes fs_nodes_t;

/* An empty table (the root only). Returns 0 or -ENOMEM. */
int fs_nodes_new(fs_nodes_t **out);
void fs_nodes_free(fs_nodes_t *t);

/*
 * The path below the root of node ino, with "/name" appended when name is not NULL (the
 * root's child "a" is "a"), in *out, which the caller frees. Returns 0, -ENOENT (no such
 * node) or -ENOMEM.
 */
int fs_nodes_path(fs_nodes_t *t, uint64_t ino, const char *name, char **out);

/*
 * One more kernel reference to each of the n children names[i] of parent: inos[i] is the
 * wanted number on entry and the number used on return (0: none could be made, the
 * entry must go to the kernel without a node id). Returns 0, -ENOENT (no parent: every
 * inos[i] is 0) or -ENOMEM (no memory, or the probe sequence of a number all taken: the
 * entries from the first 0 on have none).
 */
int fs_nodes_ref(fs_nodes_t *t, uint64_t parent, const char *const *names, uint64_t *inos,
                 size_t n);

/* The kernel lets go of n references to ino (FORGET): the node goes at zero. */
void fs_nodes_forget(fs_nodes_t *t, uint64_t ino, uint64_t n);

/* A directory's listing with attributes was given to the kernel whole, starting at
 * monotonic time t_ns; fs_nodes_listed() returns the last such time (0: never). */
void fs_nodes_set_listed(fs_nodes_t *t, uint64_t ino, int64_t t_ns);
int64_t fs_nodes_listed(fs_nodes_t *t, uint64_t ino);

/* Live nodes, the root included. */
size_t fs_nodes_count(fs_nodes_t *t);

#endif
