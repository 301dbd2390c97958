/* Retention policy ("grandfather-father-son"), as pure functions of the
 * backups' creation times, status and flags, the policy and `now`, so that
 * every rule is unit-tested without a clock or a file system.
 *
 * A backup is KEPT when any of these holds:
 *  - daily:   it is younger than `days` days (now - created < days * 86400);
 *  - weekly:  it is the newest VALID backup of its ISO week (Monday 00:00 UTC
 *             start), and that week is one of the last `weeks` weeks counting
 *             the current one;
 *  - monthly: it is the newest VALID backup of its calendar month (UTC), and
 *             that month is one of the last `months` months counting the
 *             current one;
 *  - keep:    the operator set the keep flag (--keep);
 *  - newest:  it is the newest valid backup (never delete the last good one,
 *             even when every backup is old);
 *  - in use:  it is being restored or validated (per-backup lock held);
 *  - chain:   a backup kept by any rule above (or by this one) depends on it:
 *             a differential needs its parent, so the closure of ancestors
 *             of every kept backup is kept (GFS keeps whole chains). Its
 *             expiry is the latest of its own and its kept dependants'.
 * Everything else is deleted. Failed (non-COMPLETE) backups are kept only
 * while inside the daily window, for diagnosis; they never represent a week
 * or month and never count as the newest valid backup.
 *
 * Expiry, "when it stops being kept if no newer backup arrives":
 *  - daily: created + days;
 *  - weekly representative of week W: the start of week W + weeks (the
 *    Monday when W leaves the window);
 *  - monthly representative of month M: the first day of month M + months;
 *  - the latest of the applicable times; 0 (never) for kept-flag backups.
 * Being the newest valid backup or in use does not change the expiry: such a
 * backup can be past its expiry and still kept (see RET_REASON_NEWEST_VALID).
 * The contract's defaults 7/0/0 give "created + 7 days" as in its listing. */
#ifndef NBK_CATALOG_RETENTION_H
#define NBK_CATALOG_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RET_EXPIRING_SOON_SECONDS (2 * 86400)

typedef struct {
    int64_t days;   /* BACKUP_RETENTION_DAYS */
    int64_t weeks;  /* BACKUP_KEEP_WEEKLY */
    int64_t months; /* BACKUP_KEEP_MONTHLY */
} RetPolicy;

typedef struct {
    int64_t created; /* epoch seconds UTC */
    bool valid;      /* restorable: status COMPLETE*, archive present and intact
                        (catRetentionInput, catNewestRestorable) */
    bool keep;       /* operator's keep flag */
    bool inUse;      /* being restored/validated: never delete now */
    size_t dependsOn; /* 1 + index (same array) of the backup this one needs (a
                         differential's parent); 0: none */
} RetBackup;

/* Why a backup is kept (bit set). */
enum {
    RET_REASON_DAILY = 1u << 0,
    RET_REASON_WEEKLY = 1u << 1,
    RET_REASON_MONTHLY = 1u << 2,
    RET_REASON_KEEP_FLAG = 1u << 3,
    RET_REASON_NEWEST_VALID = 1u << 4,
    RET_REASON_IN_USE = 1u << 5,
    RET_REASON_CHAIN = 1u << 6, /* a kept differential depends on it */
};

typedef struct {
    bool keep;        /* false: delete */
    unsigned reasons; /* RET_REASON_* bits; 0 when deleted */
    int64_t expires;  /* see above; 0 = never expires (keep flag) */
} RetDecision;

/* Fills decisions[index] for backups[index]; the input order is irrelevant. */
void retEvaluate(const RetBackup *backups, size_t count, const RetPolicy *policy, int64_t now,
                 RetDecision *decisions);

/* True when a kept backup has an expiry within the next
 * RET_EXPIRING_SOON_SECONDS (now < expires <= now + 2 days). */
bool retExpiringSoon(const RetDecision *decision, int64_t now);

/* Words for the reasons, e.g. "daily, weekly" or "keep flag"; "expired" for 0.
 * Writes into out (truncating) and returns it. */
const char *retReasonText(unsigned reasons, char *out, size_t outSize);

#endif
