/* Cron expressions for BACKUP_SCHEDULE, always evaluated in UTC.
 *
 * Accepted forms:
 *   five fields   minute hour day-of-month month day-of-week
 *   six fields    second minute hour day-of-month month day-of-week
 *   shortcuts     @yearly @annually @monthly @weekly @daily @midnight @hourly
 * Each field is a comma-separated list of items: `*`, `N`, `A-B`, `*` or `A-B`
 * or `N` followed by `/STEP` (`N/STEP` means N..max). Months accept JAN-DEC and
 * days of week SUN-SAT (case-insensitive); 0 and 7 are both Sunday.
 *
 * Day rule of classic (Vixie) cron: when both day-of-month and day-of-week are
 * restricted, a day matches if EITHER matches; a field counts as unrestricted
 * when it starts with `*`, so `*` and stepped stars (every other day) keep
 * the AND rule.
 *
 * A CronSchedule is a plain value: no heap memory, copy it freely. */
#ifndef NBK_SCHEDULE_CRON_H
#define NBK_SCHEDULE_CRON_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CRON_EXPRESSION_MAX 256

typedef struct {
    uint64_t seconds;      /* bit n: second n (0-59) allowed */
    uint64_t minutes;      /* bit n: minute n (0-59) */
    uint32_t hours;        /* bit n: hour n (0-23) */
    uint32_t daysOfMonth;  /* bit n: day n (1-31) */
    uint16_t months;       /* bit n: month n (1-12) */
    uint8_t daysOfWeek;    /* bit n: weekday n (0 = Sunday .. 6) */
    bool domUnrestricted;  /* day-of-month field started with `*` */
    bool dowUnrestricted;  /* day-of-week field started with `*` */
    bool hasSeconds;       /* six-field form */
    char expression[CRON_EXPRESSION_MAX]; /* as given, trimmed */
} CronSchedule;

/* Parses expr into *out. On failure returns CONFIG_INVALID with a reason that
 * names the field, its number and the 1-based character column, e.g.
 *   BACKUP_SCHEDULE "0 25 * * *": hour field (field 2, column 3): 25 is out of range 0-23
 * An expression that can never fire (e.g. "0 0 30 2 *") is rejected too. */
ErrCode cronParse(const char *expr, CronSchedule *out);

/* First matching time strictly after `after` (UTC, one-second resolution).
 * Skips whole months/days/hours at a time, so it is cheap for any expression.
 * Returns CONFIG_INVALID ("never matches") when no time matches within a full
 * 400-year Gregorian cycle, i.e. never. */
ErrCode cronNext(const CronSchedule *schedule, time_t after, time_t *next);

/* Writes a human description into buf and returns buf, e.g. "Daily at 02:00
 * UTC", "Every 15 minutes", "Weekly on Sunday at 03:30 UTC"; expressions with
 * no simple wording become "cron '<expr>' (UTC)". Truncates to size. */
const char *cronDescribe(const CronSchedule *schedule, char *buf, size_t size);

#endif
