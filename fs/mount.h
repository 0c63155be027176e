/* `ismfs SRC MNT [-f] [-d] [-o OPTIONS]`: the FUSE file system. */
#ifndef FS_MOUNT_H
#define FS_MOUNT_H

/* Mounts and serves until unmounted (fusermount3 -u, umount, SIGTERM/SIGINT).
 * argv as main() got it. Returns the process exit status. */
int fs_mount_main(int argc, char **argv);

#endif
