/* Advisory lock files (flock). A lock is held by an open file description, so
 * two acquisitions conflict even inside one process, and the kernel drops the
 * lock when the holder dies: a crash never leaves a stale lock behind.
 *
 * An exclusive holder writes "<pid>\n<purpose>\n" into the file, so a refused
 * caller can name who is in the way; the content is cleared on release. Shared
 * holders write nothing (they would overwrite each other). Lock files are
 * never deleted: unlinking a lock file races with processes that opened it.
 *
 * Catalog locks (see catalog.h): "<root>/.lock" for catalog-wide operations
 * (delete, retention, cleanup) and "<root>/<backup-id>/.lock" per backup
 * (shared while restoring or validating, exclusive while deleting). */
#ifndef NBK_COMMON_LOCK_H
#define NBK_COMMON_LOCK_H

#include "common/error.h"

#include <stdbool.h>
#include <sys/types.h>

typedef enum {
    LOCK_SHARED,
    LOCK_EXCLUSIVE,
} LockMode;

/* Wait forever for the lock. */
#define LOCK_WAIT_FOREVER (-1)

typedef struct Lock Lock;

/* Opens (creating, mode 0600) the lock file at path and locks it.
 * timeoutMs: 0 = try once, LOCK_WAIT_FOREVER = block, > 0 = retry until then.
 * purpose: what the holder is doing, e.g. "neo4j-backup --delete X" (NULL =
 * the program name). When the lock is busy returns BACKUP_LOCKED with the
 * holder's pid and purpose in the reason, e.g. "<path> is held by pid 1234
 * (neo4j-restore --backup-id X)". *out is owned by the caller: lockRelease. */
ErrCode lockAcquire(Lock **out, const char *path, LockMode mode, int timeoutMs, const char *purpose);
/* Unlocks and frees; NULL is ignored. */
void lockRelease(Lock *lock);
LockMode lockMode(const Lock *lock);
const char *lockPath(const Lock *lock);

/* True when some process holds the lock at path in any mode (probes with a
 * non-blocking exclusive lock that is released at once). A missing file is
 * not held. */
bool lockIsHeld(const char *path);

/* Reads the holder recorded in a lock file: pid (0 when none recorded) and
 * purpose (may be empty). Returns false when the file cannot be read. */
bool lockReadHolder(const char *path, pid_t *pid, char *purpose, size_t purposeSize);

#endif
