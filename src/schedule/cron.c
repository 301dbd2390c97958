/* Cron expressions for BACKUP_SCHEDULE: parsing and the next matching time in
 * UTC (accepted forms in cron.h). */
#include "schedule/cron.h"

#include "common/timeutil.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- field table ---------------------------------------------------------- */

typedef enum {
    CRON_SECOND,
    CRON_MINUTE,
    CRON_HOUR,
    CRON_DAY_OF_MONTH,
    CRON_MONTH,
    CRON_DAY_OF_WEEK,
    CRON_FIELD_COUNT,
} CronField;

static const char *const cronMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                             "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const cronWeekdayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static const char *const cronMonthWords[] = {"January", "February", "March",     "April",
                                             "May",     "June",     "July",      "August",
                                             "September", "October", "November", "December"};
static const char *const cronWeekdayWords[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                               "Thursday", "Friday", "Saturday"};

typedef struct {
    const char *name;          /* as the operator reads it in an error */
    int minValue;
    int maxValue;              /* largest value accepted (7 for day-of-week) */
    int starMax;               /* what `*` expands to (6 for day-of-week) */
    const char *const *names;  /* 3-letter aliases, index 0 = minValue */
    int nameCount;
    const char *nameHint;      /* "JAN-DEC" */
} CronFieldSpec;

static const CronFieldSpec cronFieldSpecs[CRON_FIELD_COUNT] = {
    [CRON_SECOND] = {"second", 0, 59, 59, NULL, 0, NULL},
    [CRON_MINUTE] = {"minute", 0, 59, 59, NULL, 0, NULL},
    [CRON_HOUR] = {"hour", 0, 23, 23, NULL, 0, NULL},
    [CRON_DAY_OF_MONTH] = {"day-of-month", 1, 31, 31, NULL, 0, NULL},
    [CRON_MONTH] = {"month", 1, 12, 12, cronMonthNames, 12, "JAN-DEC"},
    [CRON_DAY_OF_WEEK] = {"day-of-week", 0, 7, 6, cronWeekdayNames, 7, "SUN-SAT"},
};

/* ---- error reporting ------------------------------------------------------ */

typedef struct {
    const char *expression;    /* trimmed copy; columns count from its start */
    const char *shortcut;      /* the @name being expanded, or NULL */
    int fieldNumber;           /* 1-based position among the fields given */
    CronField field;
} CronParseContext;

__attribute__((format(printf, 3, 4)))
static ErrCode cronFieldError(const CronParseContext *context, const char *at, const char *fmt, ...)
{
    char message[256];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    /* A shortcut expands to text the operator never typed: point at the shortcut. */
    int column = context->shortcut ? 1 : (int)(at - context->expression) + 1;
    errSet(CONFIG_INVALID, "BACKUP_SCHEDULE \"%s\": %s field (field %d, column %d): %s",
           context->shortcut ? context->shortcut : context->expression,
           cronFieldSpecs[context->field].name, context->fieldNumber, column, message);
    errSetAction("Fix BACKUP_SCHEDULE: five fields 'minute hour day-of-month month day-of-week' "
                 "in UTC (optionally a leading seconds field), e.g. \"0 2 * * *\"");
    return CONFIG_INVALID;
}

__attribute__((format(printf, 2, 3)))
static ErrCode cronExpressionError(const char *expression, const char *fmt, ...)
{
    char message[384];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof(message), fmt, args);
    va_end(args);
    errSet(CONFIG_INVALID, "BACKUP_SCHEDULE \"%s\": %s", expression, message);
    errSetAction("Fix BACKUP_SCHEDULE: five fields 'minute hour day-of-month month day-of-week' "
                 "in UTC (optionally a leading seconds field), e.g. \"0 2 * * *\"");
    return CONFIG_INVALID;
}

/* ---- parsing -------------------------------------------------------------- */

/* Reads a number or a name at *cursor (stopping at end) into *value. */
static ErrCode cronParseValue(const CronParseContext *context, const char **cursor, const char *end,
                              int *value)
{
    const CronFieldSpec *spec = &cronFieldSpecs[context->field];
    const char *start = *cursor;
    if (start >= end || *start == ',')
        return cronFieldError(context, start, "a value is missing");
    if (isdigit((unsigned char)*start)) {
        long number = 0;
        const char *scan = start;
        while (scan < end && isdigit((unsigned char)*scan)) {
            if (number < 100000)   /* keeps huge inputs from overflowing */
                number = number * 10 + (*scan - '0');
            scan++;
        }
        if (number < spec->minValue || number > spec->maxValue)
            return cronFieldError(context, start, "%.*s is out of range %d-%d", (int)(scan - start),
                                  start, spec->minValue, spec->maxValue);
        *value = (int)number;
        *cursor = scan;
        return ERR_OK;
    }
    if (isalpha((unsigned char)*start)) {
        const char *scan = start;
        while (scan < end && isalpha((unsigned char)*scan))
            scan++;
        int length = (int)(scan - start);
        if (!spec->names)
            return cronFieldError(context, start, "'%.*s' is not a number (names are allowed only "
                                  "for months and days of week)", length, start);
        for (int index = 0; index < spec->nameCount; index++) {
            if (length == 3 && strncasecmp(start, spec->names[index], 3) == 0) {
                *value = spec->minValue + index;
                *cursor = scan;
                return ERR_OK;
            }
        }
        return cronFieldError(context, start, "'%.*s' is not a %s name (%s)", length, start,
                              spec->name, spec->nameHint);
    }
    return cronFieldError(context, start, "unexpected character '%c'", *start);
}

/* Reads the number after '/' into *step, checking it is usable for the field. */
static ErrCode cronParseStep(const CronParseContext *context, const char **cursor, const char *end,
                             int *step)
{
    const CronFieldSpec *spec = &cronFieldSpecs[context->field];
    const char *start = *cursor;
    if (start >= end || !isdigit((unsigned char)*start))
        return cronFieldError(context, start, "a step number must follow '/'");
    long number = 0;
    const char *scan = start;
    while (scan < end && isdigit((unsigned char)*scan)) {
        if (number < 100000)
            number = number * 10 + (*scan - '0');
        scan++;
    }
    /* A step as wide as the field would match one value only: almost surely a mistake
     * such as "* /90" meant as every 90 minutes. */
    int widest = spec->starMax - spec->minValue;
    if (number < 1 || number > widest)
        return cronFieldError(context, start, "step %.*s is out of range 1-%d", (int)(scan - start),
                              start, widest);
    *step = (int)number;
    *cursor = scan;
    return ERR_OK;
}

/* One list item: `*`, `N`, `A-B`, each optionally followed by `/STEP`. */
static ErrCode cronParseItem(const CronParseContext *context, const char *start, const char *end,
                             uint64_t *mask)
{
    const CronFieldSpec *spec = &cronFieldSpecs[context->field];
    const char *cursor = start;
    int low;
    int high;
    bool isStar = false;
    bool isRange = false;
    if (*cursor == '*') {
        isStar = true;
        low = spec->minValue;
        high = spec->starMax;
        cursor++;
    } else {
        ErrCode code = cronParseValue(context, &cursor, end, &low);
        if (code != ERR_OK)
            return code;
        high = low;
        if (cursor < end && *cursor == '-') {
            const char *rangeStart = start;
            cursor++;
            code = cronParseValue(context, &cursor, end, &high);
            if (code != ERR_OK)
                return code;
            isRange = true;
            /* "FRI-SUN": Sunday closing a range is day 7. */
            if (context->field == CRON_DAY_OF_WEEK && high == 0 && low > 0)
                high = 7;
            if (high < low)
                return cronFieldError(context, rangeStart,
                                      "range %.*s is reversed (the start must not exceed the end)",
                                      (int)(cursor - rangeStart), rangeStart);
        }
    }
    int step = 1;
    if (cursor < end && *cursor == '/') {
        cursor++;
        ErrCode code = cronParseStep(context, &cursor, end, &step);
        if (code != ERR_OK)
            return code;
        if (!isStar && !isRange)
            high = spec->starMax;  /* "5/10" = from 5 to the end of the field */
    }
    if (cursor < end)
        return cronFieldError(context, cursor, "unexpected character '%c'", *cursor);
    for (int value = low; value <= high; value += step)
        *mask |= UINT64_C(1) << value;
    return ERR_OK;
}

static ErrCode cronParseField(const CronParseContext *context, const char *start, const char *end,
                              uint64_t *mask)
{
    *mask = 0;
    const char *itemStart = start;
    for (;;) {
        const char *itemEnd = itemStart;
        while (itemEnd < end && *itemEnd != ',')
            itemEnd++;
        if (itemEnd == itemStart)
            return cronFieldError(context, itemStart, "empty list item");
        ErrCode code = cronParseItem(context, itemStart, itemEnd, mask);
        if (code != ERR_OK)
            return code;
        if (itemEnd == end)
            break;
        itemStart = itemEnd + 1;
        if (itemStart == end)
            return cronFieldError(context, itemStart, "empty list item after ','");
    }
    if (context->field == CRON_DAY_OF_WEEK && (*mask & (UINT64_C(1) << 7))) {
        *mask &= ~(UINT64_C(1) << 7);
        *mask |= 1;   /* 7 is Sunday too */
    }
    return ERR_OK;
}

static const struct {
    const char *name;
    const char *expansion;
} cronShortcuts[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static ErrCode cronParseFields(const char *text, const char *shortcut, CronSchedule *out)
{
    const char *fieldStarts[8];
    const char *fieldEnds[8];
    int fieldCount = 0;
    const char *cursor = text;
    while (*cursor) {
        while (*cursor == ' ' || *cursor == '\t')
            cursor++;
        if (!*cursor)
            break;
        const char *fieldStart = cursor;
        while (*cursor && *cursor != ' ' && *cursor != '\t')
            cursor++;
        if (fieldCount == 6)
            return cronExpressionError(text, "too many fields: field %d at column %d is extra; "
                                       "expected 5 (minute hour day-of-month month day-of-week) or "
                                       "6 (seconds first)", fieldCount + 1,
                                       (int)(fieldStart - text) + 1);
        fieldStarts[fieldCount] = fieldStart;
        fieldEnds[fieldCount] = cursor;
        fieldCount++;
    }
    if (fieldCount < 5)
        return cronExpressionError(text, "too few fields (%d): expected 5 (minute hour "
                                   "day-of-month month day-of-week) or 6 (seconds first)",
                                   fieldCount);

    out->hasSeconds = (fieldCount == 6);
    int firstField = out->hasSeconds ? CRON_SECOND : CRON_MINUTE;
    uint64_t masks[CRON_FIELD_COUNT] = {[CRON_SECOND] = 1};  /* five fields: at second 0 */
    for (int index = 0; index < fieldCount; index++) {
        CronParseContext context = {
            .expression = text,
            .shortcut = shortcut,
            .fieldNumber = index + 1,
            .field = (CronField)(firstField + index),
        };
        ErrCode code = cronParseField(&context, fieldStarts[index], fieldEnds[index],
                                      &masks[context.field]);
        if (code != ERR_OK)
            return code;
    }
    out->seconds = masks[CRON_SECOND];
    out->minutes = masks[CRON_MINUTE];
    out->hours = (uint32_t)masks[CRON_HOUR];
    out->daysOfMonth = (uint32_t)masks[CRON_DAY_OF_MONTH];
    out->months = (uint16_t)masks[CRON_MONTH];
    out->daysOfWeek = (uint8_t)masks[CRON_DAY_OF_WEEK];
    int domIndex = CRON_DAY_OF_MONTH - firstField;
    int dowIndex = CRON_DAY_OF_WEEK - firstField;
    out->domUnrestricted = (*fieldStarts[domIndex] == '*');
    out->dowUnrestricted = (*fieldStarts[dowIndex] == '*');
    return ERR_OK;
}

ErrCode cronParse(const char *expr, CronSchedule *out)
{
    memset(out, 0, sizeof(*out));
    if (!expr)
        return errSet(CONFIG_INVALID, "BACKUP_SCHEDULE is not set");
    while (isspace((unsigned char)*expr))
        expr++;
    size_t length = strlen(expr);
    while (length > 0 && isspace((unsigned char)expr[length - 1]))
        length--;
    if (length == 0)
        return cronExpressionError("", "the expression is empty; expected 5 fields (minute hour "
                                   "day-of-month month day-of-week), e.g. \"0 2 * * *\"");
    if (length >= sizeof(out->expression))
        return errSet(CONFIG_INVALID, "BACKUP_SCHEDULE is too long (%zu characters, at most %zu)",
                      length, sizeof(out->expression) - 1);
    memcpy(out->expression, expr, length);
    out->expression[length] = '\0';

    ErrCode code;
    if (out->expression[0] == '@') {
        const char *expansion = NULL;
        for (size_t index = 0; index < sizeof(cronShortcuts) / sizeof(cronShortcuts[0]); index++)
            if (strcasecmp(out->expression, cronShortcuts[index].name) == 0)
                expansion = cronShortcuts[index].expansion;
        if (!expansion)
            return cronExpressionError(out->expression, "unknown shortcut (known: @yearly "
                                       "@annually @monthly @weekly @daily @midnight @hourly)");
        char saved[CRON_EXPRESSION_MAX];
        memcpy(saved, out->expression, sizeof(saved));
        code = cronParseFields(expansion, saved, out);
        memcpy(out->expression, saved, sizeof(saved));
    } else {
        code = cronParseFields(out->expression, NULL, out);
    }
    if (code != ERR_OK)
        return code;

    /* The calendar repeats every 400 years, so one search from any start proves
     * whether the expression can ever fire. */
    time_t probe;
    if (cronNext(out, 0, &probe) != ERR_OK)
        return cronExpressionError(out->expression, "never matches: no month in the month field "
                                   "has a day allowed by the day-of-month field (e.g. 30 February)");
    return ERR_OK;
}

/* ---- next fire time -------------------------------------------------------- */

static bool cronIsLeapYear(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int cronDaysInMonth(int64_t year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && cronIsLeapYear(year) ? 29 : days[month - 1];
}

static int cronWeekday(int64_t year, int month, int day)
{
    int64_t days = timeDaysFromCivil(year, month, day);
    int64_t weekday = (days + 4) % 7;  /* 1970-01-01 was a Thursday */
    return (int)(weekday < 0 ? weekday + 7 : weekday);
}

static bool cronDayMatches(const CronSchedule *schedule, int64_t year, int month, int day)
{
    bool domMatches = (schedule->daysOfMonth >> day) & 1u;
    bool dowMatches = (schedule->daysOfWeek >> cronWeekday(year, month, day)) & 1u;
    if (schedule->domUnrestricted || schedule->dowUnrestricted)
        return domMatches && dowMatches;
    return domMatches || dowMatches;
}

/* Smallest allowed value >= from and <= last, or -1. */
static int cronNextAllowed(uint64_t mask, int from, int last)
{
    if (from > last || from > 63)
        return -1;
    uint64_t candidates = mask >> from;
    if (!candidates)
        return -1;
    int value = from + __builtin_ctzll(candidates);
    return value <= last ? value : -1;
}

ErrCode cronNext(const CronSchedule *schedule, time_t after, time_t *next)
{
    if (after >= (time_t)INT64_MAX / 2)
        return errSet(CONFIG_INVALID, "BACKUP_SCHEDULE \"%s\": start time out of range",
                      schedule->expression);
    time_t start = after + 1;
    struct tm utc;
    if (!gmtime_r(&start, &utc))
        return errSet(CONFIG_INVALID, "BACKUP_SCHEDULE \"%s\": start time out of range",
                      schedule->expression);
    int64_t year = (int64_t)utc.tm_year + 1900;
    int month = utc.tm_mon + 1;
    int day = utc.tm_mday;
    int hour = utc.tm_hour;
    int minute = utc.tm_min;
    int second = utc.tm_sec;
    const int64_t lastYear = year + 401;

    /* Each step either returns or moves to the first candidate of the next larger
     * unit; a value past a field's end makes cronNextAllowed fail, which carries. */
    while (year <= lastYear) {
        int allowedMonth = cronNextAllowed(schedule->months, month, 12);
        if (allowedMonth < 0) {
            year++;
            month = 1, day = 1, hour = 0, minute = 0, second = 0;
            continue;
        }
        if (allowedMonth != month) {
            month = allowedMonth;
            day = 1, hour = 0, minute = 0, second = 0;
        }
        int lastDay = cronDaysInMonth(year, month);
        int allowedDay = day;
        while (allowedDay <= lastDay && !cronDayMatches(schedule, year, month, allowedDay))
            allowedDay++;
        if (allowedDay > lastDay) {
            month++;
            day = 1, hour = 0, minute = 0, second = 0;
            continue;
        }
        if (allowedDay != day) {
            day = allowedDay;
            hour = 0, minute = 0, second = 0;
        }
        int allowedHour = cronNextAllowed(schedule->hours, hour, 23);
        if (allowedHour < 0) {
            day++;
            hour = 0, minute = 0, second = 0;
            continue;
        }
        if (allowedHour != hour) {
            hour = allowedHour;
            minute = 0, second = 0;
        }
        int allowedMinute = cronNextAllowed(schedule->minutes, minute, 59);
        if (allowedMinute < 0) {
            hour++;
            minute = 0, second = 0;
            continue;
        }
        if (allowedMinute != minute) {
            minute = allowedMinute;
            second = 0;
        }
        int allowedSecond = cronNextAllowed(schedule->seconds, second, 59);
        if (allowedSecond < 0) {
            minute++;
            second = 0;
            continue;
        }
        int64_t days = timeDaysFromCivil(year, month, day);
        *next = (time_t)(days * 86400 + hour * 3600 + minute * 60 + allowedSecond);
        return ERR_OK;
    }
    return errSet(CONFIG_INVALID, "BACKUP_SCHEDULE \"%s\": never matches (no date satisfies "
                  "the day-of-month, month and day-of-week fields)", schedule->expression);
}

/* ---- description ----------------------------------------------------------- */

static uint64_t cronRangeMask(int low, int high)
{
    uint64_t mask = 0;
    for (int value = low; value <= high; value++)
        mask |= UINT64_C(1) << value;
    return mask;
}

static uint64_t cronStepMask(int step, int high)
{
    uint64_t mask = 0;
    for (int value = 0; value <= high; value += step)
        mask |= UINT64_C(1) << value;
    return mask;
}

/* Step N when mask is exactly {0, N, 2N, ...} and N divides the field evenly,
 * so the interval is the same everywhere; else 0. */
static int cronUniformStep(uint64_t mask, int count)
{
    for (int step = 1; step < count; step++)
        if (count % step == 0 && mask == cronStepMask(step, count - 1))
            return step;
    return 0;
}

static int cronSingle(uint64_t mask)
{
    return mask && !(mask & (mask - 1)) ? __builtin_ctzll(mask) : -1;
}

/* Appends "A", "A and B", "A, B and C" from a list of words. */
static void cronJoinWords(char *out, size_t size, const char *const *words, int count)
{
    size_t used = 0;
    out[0] = '\0';
    for (int index = 0; index < count && used < size; index++) {
        const char *separator = index == 0 ? "" : (index == count - 1 ? " and " : ", ");
        int written = snprintf(out + used, size - used, "%s%s", separator, words[index]);
        if (written < 0)
            return;
        used += (size_t)written;
    }
}

__attribute__((format(printf, 3, 4)))
static const char *cronWrite(char *buf, size_t size, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(buf, size, fmt, args);
    va_end(args);
    return buf;
}

const char *cronDescribe(const CronSchedule *schedule, char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
    const uint64_t allSixty = cronRangeMask(0, 59);
    const uint64_t allHours = cronRangeMask(0, 23);
    bool everyDay = schedule->daysOfMonth == cronRangeMask(1, 31) &&
                    schedule->months == cronRangeMask(1, 12) &&
                    schedule->daysOfWeek == cronRangeMask(0, 6);
    int second = cronSingle(schedule->seconds);
    int minute = cronSingle(schedule->minutes);

    if (everyDay && schedule->hours == allHours && schedule->minutes == allSixty) {
        int step = cronUniformStep(schedule->seconds, 60);
        if (step == 1)
            return cronWrite(buf, size, "Every second");
        if (step > 1)
            return cronWrite(buf, size, "Every %d seconds", step);
    }
    if (everyDay && schedule->hours == allHours && second == 0) {
        int step = cronUniformStep(schedule->minutes, 60);
        if (step == 1)
            return cronWrite(buf, size, "Every minute");
        if (step > 1)
            return cronWrite(buf, size, "Every %d minutes", step);
        if (minute >= 0)
            return cronWrite(buf, size, "Hourly at minute %d", minute);
    }
    if (second < 0 || minute < 0)
        goto fallback;
    int hourStep = cronUniformStep(schedule->hours, 24);
    if (everyDay && second == 0 && hourStep > 1)
        return cronWrite(buf, size, "Every %d hours at minute %d", hourStep, minute);

    /* A few fixed times of day: "02:00" or "02:00 and 14:00". */
    char timeTexts[4][32];
    const char *timeWords[4];
    int timeCount = 0;
    for (int hour = 0; hour < 24; hour++) {
        if (!((schedule->hours >> hour) & 1u))
            continue;
        if (timeCount == 4)
            goto fallback;
        if (second == 0)
            snprintf(timeTexts[timeCount], sizeof(timeTexts[0]), "%02d:%02d", hour, minute);
        else
            snprintf(timeTexts[timeCount], sizeof(timeTexts[0]), "%02d:%02d:%02d", hour, minute,
                     second);
        timeWords[timeCount] = timeTexts[timeCount];
        timeCount++;
    }
    char times[96];
    cronJoinWords(times, sizeof(times), timeWords, timeCount);

    if (everyDay)
        return cronWrite(buf, size, "Daily at %s UTC", times);

    bool allMonths = schedule->months == cronRangeMask(1, 12);
    bool allDaysOfMonth = schedule->domUnrestricted && schedule->daysOfMonth == cronRangeMask(1, 31);
    bool allWeekdays = schedule->dowUnrestricted && schedule->daysOfWeek == cronRangeMask(0, 6);
    int dayOfMonth = cronSingle(schedule->daysOfMonth);
    int month = cronSingle(schedule->months);

    if (allMonths && allDaysOfMonth && !schedule->dowUnrestricted) {
        if (schedule->daysOfWeek == cronRangeMask(1, 5))
            return cronWrite(buf, size, "Weekdays (Monday to Friday) at %s UTC", times);
        if (schedule->daysOfWeek == ((1u << 0) | (1u << 6)))
            return cronWrite(buf, size, "Weekends (Saturday and Sunday) at %s UTC", times);
        /* Monday first, Sunday last: how people list a week. */
        const char *dayWords[7];
        int dayCount = 0;
        for (int offset = 1; offset <= 7; offset++)
            if ((schedule->daysOfWeek >> (offset % 7)) & 1u)
                dayWords[dayCount++] = cronWeekdayWords[offset % 7];
        char days[96];
        cronJoinWords(days, sizeof(days), dayWords, dayCount);
        return cronWrite(buf, size, "Weekly on %s at %s UTC", days, times);
    }
    if (allWeekdays && !schedule->domUnrestricted && dayOfMonth > 0) {
        if (allMonths)
            return cronWrite(buf, size, "Monthly on day %d at %s UTC", dayOfMonth, times);
        if (month > 0)
            return cronWrite(buf, size, "Yearly on %s %d at %s UTC", cronMonthWords[month - 1],
                            dayOfMonth, times);
    }

fallback:
    snprintf(buf, size, "cron '%s' (UTC)", schedule->expression);
    return buf;
}
