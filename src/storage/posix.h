/* The posix storage driver: a repository in a local (or mounted) directory,
 * with the durability rules of common/fsutil.h and the locks of common/lock.h.
 * Writes go to "<name>.nbk-tmp-<pid>-<n>" (O_EXCL, O_NOFOLLOW), are fsynced,
 * renamed into place (renameat2 RENAME_NOREPLACE with STORAGE_WRITE_NO_REPLACE)
 * and the directory is fsynced. Reads and stats refuse symbolic links and
 * anything that is not a regular file. Listings skip temporary files and
 * symbolic links. Locks are flock()ed files that die with their process (the
 * time-to-live is not needed). */
#ifndef NBK_STORAGE_POSIX_H
#define NBK_STORAGE_POSIX_H

#include "storage/storage.h"

/* Opens the directory root (created with mode 0750 when missing). */
ErrCode storagePosixNew(const char *root, Storage **out);

#endif
