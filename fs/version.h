/* The version ismfs reports. */
#ifndef FS_VERSION_H
#define FS_VERSION_H

#define ISMFS_VERSION "0.2.0"

#endif
