/* Time helpers: the UTC clock with test injection, the one monotonic clock,
 * the one civil-date algorithm, formats, backup ids, ISO weeks and months. */
#include "common/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Per thread: the scheduler pins the clock of the thread that runs its
 * backup, and the HTTP API's threads beside it must keep the real one. */
static _Thread_local TimeClock timeClock;
static _Thread_local void *timeClockPayload;

/* NBK_NOW support: the offset between the injected start and the real clock,
 * fixed on the first call so the injected clock keeps moving. */
static bool timeEnvChecked;
static bool timeEnvActive;
static int64_t timeEnvOffset;

static int64_t floorDiv(int64_t value, int64_t divisor)
{
    int64_t quotient = value / divisor;
    if ((value % divisor != 0) && ((value < 0) != (divisor < 0)))
        quotient--;
    return quotient;
}

static int64_t timeSystemNow(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec;
}

static void timeCheckEnv(void)
{
    if (timeEnvChecked)
        return;
    timeEnvChecked = true;
#ifdef NBK_TEST_HOOKS
    const char *injected = getenv("NBK_NOW");
#else
    const char *injected = NULL; /* a release build: no test hook */
#endif
    if (!injected || !injected[0])
        return;
    int64_t start;
    char *end = NULL;
    long long epoch = strtoll(injected, &end, 10);
    if (end && end != injected && *end == '\0')
        start = (int64_t)epoch;
    else if (!timeParseIso(injected, &start))
        return; /* an unusable value is ignored rather than freezing time at 0 */
    timeEnvActive = true;
    timeEnvOffset = start - timeSystemNow();
}

int64_t timeNow(void)
{
    if (timeClock)
        return timeClock(timeClockPayload);
    timeCheckEnv();
    int64_t now = timeSystemNow();
    return timeEnvActive ? now + timeEnvOffset : now;
}

void timeSetClock(TimeClock clock, void *payload)
{
    timeClock = clock;
    timeClockPayload = payload;
}

void timeGetClock(TimeClock *clock, void **payload)
{
    *clock = timeClock;
    *payload = timeClockPayload;
}

double timeMonotonic(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

int64_t timeMonotonicMs(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Valid for any year: avoids timegm's dependency on time_t and struct tm ranges. */
int64_t timeDaysFromCivil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = floorDiv(year, 400);
    int64_t yearOfEra = year - era * 400;
    int64_t dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
    return era * 146097 + dayOfEra - 719468;
}

void timeCivilFromDays(int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    int64_t era = floorDiv(days, 146097);
    int64_t dayOfEra = days - era * 146097;
    int64_t yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365;
    int64_t dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100);
    int64_t monthPart = (5 * dayOfYear + 2) / 153;
    *day = (int)(dayOfYear - (153 * monthPart + 2) / 5 + 1);
    *month = (int)(monthPart < 10 ? monthPart + 3 : monthPart - 9);
    *year = yearOfEra + era * 400 + (*month <= 2);
}

int64_t timeFromParts(int year, int month, int day, int hour, int minute, int second)
{
    /* Normalize the month so that month 13 means January of the next year. */
    int64_t monthZero = (int64_t)month - 1;
    int64_t fullYear = (int64_t)year + floorDiv(monthZero, 12);
    int64_t normalizedMonth = monthZero - floorDiv(monthZero, 12) * 12 + 1;
    int64_t days = timeDaysFromCivil(fullYear, (int)normalizedMonth, 1) + (day - 1);
    return days * TIME_SECONDS_PER_DAY + (int64_t)hour * 3600 + (int64_t)minute * 60 + second;
}

void timeToParts(int64_t seconds, int *year, int *month, int *day, int *hour, int *minute,
                 int *second)
{
    int64_t days = floorDiv(seconds, TIME_SECONDS_PER_DAY);
    int64_t secondOfDay = seconds - days * TIME_SECONDS_PER_DAY;
    int64_t fullYear;
    int monthValue, dayValue;
    timeCivilFromDays(days, &fullYear, &monthValue, &dayValue);
    if (year)
        *year = (int)fullYear;
    if (month)
        *month = monthValue;
    if (day)
        *day = dayValue;
    if (hour)
        *hour = (int)(secondOfDay / 3600);
    if (minute)
        *minute = (int)(secondOfDay / 60 % 60);
    if (second)
        *second = (int)(secondOfDay % 60);
}

typedef enum { TIME_STYLE_DISPLAY, TIME_STYLE_ISO, TIME_STYLE_BACKUP_ID } TimeStyle;

static void timeFormatStyle(int64_t seconds, char out[TIME_TEXT_SIZE], TimeStyle style)
{
    int year, month, day, hour, minute, second;
    timeToParts(seconds, &year, &month, &day, &hour, &minute, &second);
    switch (style) {
    case TIME_STYLE_DISPLAY:
        snprintf(out, TIME_TEXT_SIZE, "%04d-%02d-%02d %02d:%02d:%02d UTC", year, month, day, hour, minute,
                 second);
        break;
    case TIME_STYLE_ISO:
        snprintf(out, TIME_TEXT_SIZE, "%04d-%02d-%02dT%02d:%02d:%02dZ", year, month, day, hour, minute, second);
        break;
    case TIME_STYLE_BACKUP_ID:
        snprintf(out, TIME_TEXT_SIZE, "neo4j-%04d%02d%02d-%02d%02d%02d", year, month, day, hour, minute,
                 second);
        break;
    }
}

void timeFormatDisplay(int64_t seconds, char out[TIME_TEXT_SIZE])
{
    timeFormatStyle(seconds, out, TIME_STYLE_DISPLAY);
}

void timeFormatIso(int64_t seconds, char out[TIME_TEXT_SIZE]) { timeFormatStyle(seconds, out, TIME_STYLE_ISO); }

void timeBackupId(int64_t seconds, char out[TIME_TEXT_SIZE])
{
    timeFormatStyle(seconds, out, TIME_STYLE_BACKUP_ID);
}

/* Reads exactly `count` digits; false if any is missing. */
static bool readDigits(const char **cursor, int count, int *out)
{
    int value = 0;
    for (int position = 0; position < count; position++) {
        unsigned char digit = (unsigned char)(*cursor)[position];
        if (!isdigit(digit))
            return false;
        value = value * 10 + (digit - '0');
    }
    *cursor += count;
    *out = value;
    return true;
}

static bool readChar(const char **cursor, char expected)
{
    if (**cursor != expected)
        return false;
    (*cursor)++;
    return true;
}

static bool validFields(int year, int month, int day, int hour, int minute, int second)
{
    static const int daysInMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59)
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int monthDays = daysInMonth[month - 1] + (month == 2 && leap ? 1 : 0);
    return day <= monthDays;
}

bool timeParseIso(const char *text, int64_t *out)
{
    if (!text)
        return false;
    const char *cursor = text;
    int year, month, day, hour, minute, second;
    if (!readDigits(&cursor, 4, &year) || !readChar(&cursor, '-') || !readDigits(&cursor, 2, &month)
        || !readChar(&cursor, '-') || !readDigits(&cursor, 2, &day))
        return false;
    bool displayForm = false;
    if (*cursor == ' ')
        displayForm = true;
    else if (*cursor != 'T' && *cursor != 't')
        return false;
    cursor++;
    if (!readDigits(&cursor, 2, &hour) || !readChar(&cursor, ':') || !readDigits(&cursor, 2, &minute)
        || !readChar(&cursor, ':') || !readDigits(&cursor, 2, &second))
        return false;
    if (!validFields(year, month, day, hour, minute, second))
        return false;
    int64_t offsetSeconds = 0;
    if (displayForm) {
        if (strcmp(cursor, " UTC") != 0)
            return false;
    } else {
        if (*cursor == '.') {
            cursor++;
            if (!isdigit((unsigned char)*cursor))
                return false;
            while (isdigit((unsigned char)*cursor))
                cursor++;
        }
        if (*cursor == 'Z' || *cursor == 'z') {
            cursor++;
        } else if (*cursor == '+' || *cursor == '-') {
            int sign = *cursor == '-' ? -1 : 1;
            int offsetHours, offsetMinutes;
            cursor++;
            if (!readDigits(&cursor, 2, &offsetHours))
                return false;
            readChar(&cursor, ':');
            if (!readDigits(&cursor, 2, &offsetMinutes) || offsetHours > 23 || offsetMinutes > 59)
                return false;
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60);
        } else {
            return false;
        }
        if (*cursor != '\0')
            return false;
    }
    *out = timeFromParts(year, month, day, hour, minute, second) - offsetSeconds;
    return true;
}

bool timeParseBackupId(const char *id, int64_t *out)
{
    if (!id || strncmp(id, "neo4j-", 6) != 0)
        return false;
    const char *cursor = id + 6;
    int year, month, day, hour, minute, second;
    if (!readDigits(&cursor, 4, &year) || !readDigits(&cursor, 2, &month) || !readDigits(&cursor, 2, &day)
        || !readChar(&cursor, '-') || !readDigits(&cursor, 2, &hour) || !readDigits(&cursor, 2, &minute)
        || !readDigits(&cursor, 2, &second))
        return false;
    if (*cursor != '\0' && *cursor != '-' && *cursor != '_' && *cursor != '.')
        return false;
    if (!validFields(year, month, day, hour, minute, second))
        return false;
    *out = timeFromParts(year, month, day, hour, minute, second);
    return true;
}

int64_t timeDayIndex(int64_t seconds) { return floorDiv(seconds, TIME_SECONDS_PER_DAY); }

int64_t timeDaysBetween(int64_t from, int64_t to) { return floorDiv(to - from, TIME_SECONDS_PER_DAY); }

/* 1970-01-01 was a Thursday, so Monday 1969-12-29 (day -3) starts week 0. */
int64_t timeWeekIndex(int64_t seconds) { return floorDiv(timeDayIndex(seconds) + 3, 7); }

int64_t timeWeekStart(int64_t weekIndex) { return (weekIndex * 7 - 3) * TIME_SECONDS_PER_DAY; }

int64_t timeMonthIndex(int64_t seconds)
{
    int year, month;
    timeToParts(seconds, &year, &month, NULL, NULL, NULL, NULL);
    return (int64_t)year * 12 + (month - 1);
}

int64_t timeMonthStart(int64_t monthIndex)
{
    int64_t year = floorDiv(monthIndex, 12);
    int64_t month = monthIndex - year * 12 + 1;
    return timeDaysFromCivil(year, (int)month, 1) * TIME_SECONDS_PER_DAY;
}

void timeIsoWeek(int64_t seconds, int *isoYear, int *isoWeek)
{
    /* The ISO year is the calendar year of the week's Thursday. */
    int64_t thursday = timeWeekStart(timeWeekIndex(seconds)) + 3 * TIME_SECONDS_PER_DAY;
    int year;
    timeToParts(thursday, &year, NULL, NULL, NULL, NULL, NULL);
    int64_t firstThursdayWeek = timeWeekIndex(timeFromParts(year, 1, 4, 0, 0, 0));
    if (isoYear)
        *isoYear = year;
    if (isoWeek)
        *isoWeek = (int)(timeWeekIndex(seconds) - firstThursdayWeek + 1);
}
