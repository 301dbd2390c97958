/* Advisory lock files (flock) that name their holder; semantics in lock.h. */
#include "common/lock.h"

#include "common/fsutil.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

struct Lock {
    int fd;
    LockMode mode;
    char *path;
};

static int lockOpen(const char *path)
{
    return open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

bool lockReadHolder(const char *path, pid_t *pid, char *purpose, size_t purposeSize)
{
    *pid = 0;
    if (purposeSize)
        purpose[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return false;
    char content[512];
    ssize_t got = read(fd, content, sizeof(content) - 1);
    close(fd);
    if (got < 0)
        return false;
    content[got] = '\0';
    char *newline = strchr(content, '\n');
    if (!newline)
        return true; /* empty: no exclusive holder recorded */
    *newline = '\0';
    long value = strtol(content, NULL, 10);
    *pid = value > 0 ? (pid_t)value : 0;
    char *purposeText = newline + 1;
    purposeText[strcspn(purposeText, "\n")] = '\0';
    if (purposeSize)
        snprintf(purpose, purposeSize, "%s", purposeText);
    return true;
}

static ErrCode lockBusyError(const char *path, LockMode mode)
{
    pid_t holder;
    char purpose[256];
    if (lockReadHolder(path, &holder, purpose, sizeof(purpose)) && holder > 0) {
        if (purpose[0])
            errSet(BACKUP_LOCKED, "%s is held by pid %ld (%s)", path, (long)holder, purpose);
        else
            errSet(BACKUP_LOCKED, "%s is held by pid %ld", path, (long)holder);
    } else {
        errSet(BACKUP_LOCKED, "%s is held by another process%s", path,
               mode == LOCK_EXCLUSIVE ? " (shared holders, e.g. a running restore)" : "");
    }
    return BACKUP_LOCKED;
}

static void lockSleepMs(int milliseconds)
{
    struct timespec pause = {milliseconds / 1000, (long)(milliseconds % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
}

ErrCode lockAcquire(Lock **out, const char *path, LockMode mode, int timeoutMs, const char *purpose)
{
    *out = NULL;
    int fd = lockOpen(path);
    if (fd < 0)
        return fsErrorFromErrno(errno, "cannot open lock file", path);
    int operation = mode == LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH;
    double deadline = timeMonotonic() + (timeoutMs > 0 ? timeoutMs / 1000.0 : 0.0);
    int pauseMs = 10;
    for (;;) {
        int flags = timeoutMs == LOCK_WAIT_FOREVER ? 0 : LOCK_NB;
        if (flock(fd, operation | flags) == 0)
            break;
        int savedErrno = errno;
        if (savedErrno == EINTR)
            continue;
        if (savedErrno != EWOULDBLOCK) {
            close(fd);
            return fsErrorFromErrno(savedErrno, "cannot lock", path);
        }
        double remaining = deadline - timeMonotonic();
        if (timeoutMs == 0 || remaining <= 0) {
            close(fd);
            return lockBusyError(path, mode);
        }
        /* flock has no timed wait; poll with a growing pause. */
        int sleepMs = pauseMs < remaining * 1000 ? pauseMs : (int)(remaining * 1000) + 1;
        lockSleepMs(sleepMs);
        if (pauseMs < 200)
            pauseMs *= 2;
    }
    if (mode == LOCK_EXCLUSIVE) {
        char record[320];
        int length = snprintf(record, sizeof(record), "%ld\n%s\n", (long)getpid(),
                              purpose ? purpose : program_invocation_short_name);
        if (length < 0 || (size_t)length >= sizeof(record))
            length = (int)strlen(record);
        /* The record is informational: failing to write it is not fatal. */
        if (ftruncate(fd, 0) != 0 || pwrite(fd, record, (size_t)length, 0) != length)
            logDebug("could not record the lock holder in %s: %s", path, strerror(errno));
    }
    Lock *lock = memCalloc(1, sizeof(*lock));
    char *pathCopy = memStrdup(path);
    lock->fd = fd;
    lock->mode = mode;
    lock->path = pathCopy;
    *out = lock;
    return ERR_OK;
}

void lockRelease(Lock *lock)
{
    if (!lock)
        return;
    if (lock->mode == LOCK_EXCLUSIVE && ftruncate(lock->fd, 0) != 0)
        logDebug("could not clear lock file %s: %s", lock->path, strerror(errno));
    close(lock->fd); /* closing the last descriptor drops the flock */
    free(lock->path);
    free(lock);
}

LockMode lockMode(const Lock *lock) { return lock->mode; }

const char *lockPath(const Lock *lock) { return lock->path; }

bool lockIsHeld(const char *path)
{
    /* O_NONBLOCK: a FIFO planted as a lock file must not hang a listing. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return false;
    bool held = false;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        held = errno == EWOULDBLOCK;
    close(fd);
    return held;
}
