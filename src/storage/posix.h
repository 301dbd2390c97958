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

/* Opens the directory root (created with mode 0700 when missing). */
ErrCode storagePosixNew(const char *root, Storage **out);
/* Opens the repository directory root. create: make it (and its parents)
 * with mode 0700 when missing; otherwise a missing root fails with
 * BACKUP_IO_FAILED "cannot open backup storage <root>: ...". A root that is
 * not a directory is BACKUP_IO_FAILED "backup storage <root> is not a
 * directory". Trailing slashes are dropped. */
ErrCode storagePosixOpen(const char *root, bool create, Storage **out);
/* The directory a posix storage serves (for the callers that still take
 * paths); NULL for any other driver. */
const char *storagePosixRoot(Storage *storage);

#endif
