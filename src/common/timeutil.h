/* Time helpers. Every time in the product is UTC, held as int64 seconds since
 * the Unix epoch, so that backup ids, manifests, retention and the scheduler
 * agree whatever the machine's time zone is.
 *
 * Clock injection (for tests):
 *  - timeSetClock() installs a function that timeNow() calls instead of the
 *    system clock (unit tests: scheduler, retention, listing).
 *  - The environment variable NBK_NOW (ISO-8601 "2025-12-27T15:30:00Z", the
 *    display form "2025-12-27 15:30:00 UTC", or epoch seconds) makes the
 *    process's clock START at that instant on the first timeNow() call and then
 *    advance with real time. Executables driven by end-to-end tests thus get
 *    deterministic backup ids and expiry times, while durations and the
 *    scheduler loop still move forward. Only builds configured with
 *    -DNBK_TEST_HOOKS=ON read it; release builds ignore it.
 * timeMonotonic() is never affected: it measures durations. */
#ifndef NBK_COMMON_TIMEUTIL_H
#define NBK_COMMON_TIMEUTIL_H

#include <stdbool.h>
#include <stdint.h>

/* Big enough for every text this module writes, including the terminator. */
#define TIME_TEXT_SIZE 40
#define TIME_SECONDS_PER_DAY 86400

typedef int64_t (*TimeClock)(void *payload);

/* Seconds since the epoch, UTC (see clock injection above). */
int64_t timeNow(void);
/* Installs a clock for the calling thread only; NULL restores the system
 * clock (and NBK_NOW handling). */
void timeSetClock(TimeClock clock, void *payload);
/* The calling thread's installed clock (NULL: the system clock), so that
 * code pinning the clock for a while can put the previous one back. */
void timeGetClock(TimeClock *clock, void **payload);
/* Seconds from an arbitrary fixed point, monotonic, sub-second resolution:
 * the one clock for durations, timeouts and deadlines. */
double timeMonotonic(void);
/* The same clock in whole milliseconds. */
int64_t timeMonotonicMs(void);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12, day 1-31),
 * for any year: the one civil-date algorithm (days in 400-year eras counted
 * from March 1st), also used for Bolt dates, CSV dates and cron weekdays. */
int64_t timeDaysFromCivil(int64_t year, int month, int day);
/* The proleptic Gregorian date of a day count since 1970-01-01. */
void timeCivilFromDays(int64_t days, int64_t *year, int *month, int *day);

/* Epoch seconds from UTC calendar fields (month 1-12, day 1-31). Fields out of
 * range are normalized like timegm(). */
int64_t timeFromParts(int year, int month, int day, int hour, int minute, int second);
/* UTC calendar fields of a time; any pointer may be NULL. */
void timeToParts(int64_t seconds, int *year, int *month, int *day, int *hour, int *minute,
                 int *second);

/* "2025-12-27 15:30:00 UTC" (the contract's display form). */
void timeFormatDisplay(int64_t seconds, char out[TIME_TEXT_SIZE]);
/* "2025-12-27T15:30:00Z". */
void timeFormatIso(int64_t seconds, char out[TIME_TEXT_SIZE]);
/* Accepts "YYYY-MM-DDTHH:MM:SS" followed by optional fractional seconds
 * (dropped) and "Z" or "+HH:MM"/"-HH:MM" (or "+HHMM"), and also the display
 * form "YYYY-MM-DD HH:MM:SS UTC". Rejects anything else, including trailing
 * text and impossible dates (2025-02-30). */
bool timeParseIso(const char *text, int64_t *out);

/* Backup id of a creation time: "neo4j-20251227-153000". */
void timeBackupId(int64_t seconds, char out[TIME_TEXT_SIZE]);
/* Creation time encoded in a backup id. The id must start with
 * "neo4j-YYYYMMDD-HHMMSS" (a valid date) and may continue only with a suffix
 * starting with '-', '_' or '.' (e.g. "neo4j-20251227-153000-2"). */
bool timeParseBackupId(const char *id, int64_t *out);

/* ISO-8601 week of a time: weeks start on Monday; week 1 holds the year's
 * first Thursday, so 2021-01-01 is in 2020-W53 and 2025-12-29 in 2026-W01. */
void timeIsoWeek(int64_t seconds, int *isoYear, int *isoWeek);
/* Consecutive number of the ISO week holding a time (difference of two
 * indexes = number of week boundaries between them). */
int64_t timeWeekIndex(int64_t seconds);
/* Start (Monday 00:00:00 UTC) of the week with the given index. */
int64_t timeWeekStart(int64_t weekIndex);
/* year * 12 + (month - 1): consecutive month number. */
int64_t timeMonthIndex(int64_t seconds);
/* First day 00:00:00 UTC of the month with the given index. */
int64_t timeMonthStart(int64_t monthIndex);
/* Number of the UTC day holding a time (floor of seconds / 86400). */
int64_t timeDayIndex(int64_t seconds);
/* Whole days from `from` to `to` (floor; negative when to < from). */
int64_t timeDaysBetween(int64_t from, int64_t to);

#endif
