/* The retention policy as pure functions: which backups the daily, weekly and
 * monthly rules keep, and why (rules in retention.h). */
#include "catalog/retention.h"

#include "common/mem.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True when backups[candidate] is the newest valid backup among those for
 * which `sameBucket` holds; ties go to the lower index so the choice is
 * deterministic. Quadratic, which is fine for the hundreds of backups a
 * catalog holds. */
static bool isNewestValidIn(const RetBackup *backups, size_t count, size_t candidate, const int64_t *buckets)
{
    for (size_t other = 0; other < count; other++) {
        if (other == candidate || !backups[other].valid)
            continue;
        if (buckets && buckets[other] != buckets[candidate])
            continue;
        if (backups[other].created > backups[candidate].created)
            return false;
        if (backups[other].created == backups[candidate].created && other < candidate)
            return false;
    }
    return true;
}

static int64_t laterOf(int64_t first, int64_t second) { return first > second ? first : second; }

/* The later of two expiries where 0 means never. */
static int64_t laterOrNever(int64_t first, int64_t second)
{
    return first == 0 || second == 0 ? 0 : laterOf(first, second);
}

/* Keeps every ancestor of a kept backup. A walk is bounded by count steps,
 * so a hostile repository whose parents form a cycle cannot hang it. */
static void keepChains(const RetBackup *backups, size_t count, RetDecision *decisions)
{
    for (size_t index = 0; index < count; index++) {
        if (!decisions[index].keep || (decisions[index].reasons & ~(unsigned)RET_REASON_CHAIN) == 0)
            continue;
        int64_t expires = decisions[index].expires;
        size_t current = index;
        for (size_t steps = 0; steps < count && backups[current].dependsOn; steps++) {
            size_t parent = backups[current].dependsOn - 1;
            if (parent >= count || parent == current)
                break;
            RetDecision *decision = &decisions[parent];
            decision->reasons |= RET_REASON_CHAIN;
            decision->keep = true;
            decision->expires = laterOrNever(decision->expires, expires);
            expires = decision->expires;
            current = parent;
        }
    }
}

void retEvaluate(const RetBackup *backups, size_t count, const RetPolicy *policy, int64_t now,
                 RetDecision *decisions)
{
    if (count == 0)
        return;
    int64_t *weeks = memAlloc(2 * count * sizeof(*weeks));
    int64_t *months = weeks + count;
    for (size_t index = 0; index < count; index++) {
        weeks[index] = timeWeekIndex(backups[index].created);
        months[index] = timeMonthIndex(backups[index].created);
    }
    int64_t days = policy->days > 0 ? policy->days : 0;
    for (size_t index = 0; index < count; index++) {
        const RetBackup *backup = &backups[index];
        RetDecision *decision = &decisions[index];
        memset(decision, 0, sizeof(*decision));

        int64_t dailyEnd = backup->created + days * TIME_SECONDS_PER_DAY;
        int64_t expires = dailyEnd;
        if (days > 0 && now < dailyEnd)
            decision->reasons |= RET_REASON_DAILY;
        if (backup->valid && policy->weeks > 0 && isNewestValidIn(backups, count, index, weeks)) {
            int64_t weeklyEnd = timeWeekStart(weeks[index] + policy->weeks);
            expires = laterOf(expires, weeklyEnd);
            if (now < weeklyEnd)
                decision->reasons |= RET_REASON_WEEKLY;
        }
        if (backup->valid && policy->months > 0 && isNewestValidIn(backups, count, index, months)) {
            int64_t monthlyEnd = timeMonthStart(months[index] + policy->months);
            expires = laterOf(expires, monthlyEnd);
            if (now < monthlyEnd)
                decision->reasons |= RET_REASON_MONTHLY;
        }
        if (backup->keep) {
            decision->reasons |= RET_REASON_KEEP_FLAG;
            expires = 0;
        }
        if (backup->valid && isNewestValidIn(backups, count, index, NULL))
            decision->reasons |= RET_REASON_NEWEST_VALID;
        if (backup->inUse)
            decision->reasons |= RET_REASON_IN_USE;
        decision->expires = expires;
        decision->keep = decision->reasons != 0;
    }
    free(weeks);
    keepChains(backups, count, decisions);
}

bool retExpiringSoon(const RetDecision *decision, int64_t now)
{
    return decision->keep && decision->expires != 0 && decision->expires > now
           && decision->expires - now <= RET_EXPIRING_SOON_SECONDS;
}

const char *retReasonText(unsigned reasons, char *out, size_t outSize)
{
    static const struct {
        unsigned bit;
        const char *word;
    } words[] = {
        {RET_REASON_DAILY, "daily"},
        {RET_REASON_WEEKLY, "weekly"},
        {RET_REASON_MONTHLY, "monthly"},
        {RET_REASON_KEEP_FLAG, "keep flag"},
        {RET_REASON_NEWEST_VALID, "newest valid backup"},
        {RET_REASON_IN_USE, "in use"},
        {RET_REASON_CHAIN, "chain of a kept backup"},
    };
    if (outSize == 0)
        return out;
    out[0] = '\0';
    if (reasons == 0) {
        snprintf(out, outSize, "expired");
        return out;
    }
    for (size_t index = 0; index < sizeof(words) / sizeof(words[0]); index++) {
        if (!(reasons & words[index].bit))
            continue;
        size_t used = strnlen(out, outSize);
        snprintf(out + used, outSize - used, "%s%s", used ? ", " : "", words[index].word);
    }
    return out;
}
