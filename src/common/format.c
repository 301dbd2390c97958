#include "common/format.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const sizeUnits[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
enum { SIZE_UNIT_COUNT = sizeof(sizeUnits) / sizeof(sizeUnits[0]) };

/* Picks the unit so that the value printed with `decimals` decimals stays
 * below 1000 (999.96 MB prints as "1.0 GB", not "1000.0 MB"). */
static const char *formatScaled(char *out, size_t outSize, uint64_t bytes, int decimals)
{
    if (bytes < 1000) {
        snprintf(out, outSize, "%llu B", (unsigned long long)bytes);
        return out;
    }
    double scale = pow(10.0, decimals);
    double value = (double)bytes;
    int unit = 0;
    while (unit + 1 < SIZE_UNIT_COUNT && round(value * scale) / scale >= 1000.0) {
        value /= 1000.0;
        unit++;
    }
    snprintf(out, outSize, "%.*f %s", decimals, value, sizeUnits[unit]);
    return out;
}

const char *fmtSize(char *out, size_t outSize, uint64_t bytes)
{
    return formatScaled(out, outSize, bytes, 1);
}

const char *fmtSizeWhole(char *out, size_t outSize, uint64_t bytes)
{
    return formatScaled(out, outSize, bytes, 0);
}

const char *fmtPercent(char *out, size_t outSize, uint64_t part, uint64_t whole)
{
    double percent = whole == 0 ? 0.0 : (double)part * 100.0 / (double)whole;
    snprintf(out, outSize, "%.0f%%", round(percent));
    return out;
}

/* Appends "<count> <unit>[s]" with a separating space when needed. */
static void appendPart(char *out, size_t outSize, uint64_t count, const char *unit)
{
    size_t used = strnlen(out, outSize);
    if (used + 1 >= outSize)
        return;
    snprintf(out + used, outSize - used, "%s%llu %s%s", used ? " " : "", (unsigned long long)count,
             unit, count == 1 ? "" : "s");
}

const char *fmtSeconds(char *out, size_t outSize, double seconds)
{
    if (!(seconds > 0)) /* negative and NaN read as zero */
        seconds = 0;
    if (outSize == 0)
        return out;
    out[0] = '\0';
    appendPart(out, outSize, (uint64_t)llround(seconds), "second");
    return out;
}

const char *fmtDuration(char *out, size_t outSize, double seconds)
{
    if (!(seconds > 0))
        seconds = 0;
    if (outSize == 0)
        return out;
    out[0] = '\0';
    /* Sub-second backups of small graphs would otherwise all read "0 seconds". */
    if (seconds < 10 && round(seconds * 10) / 10 != round(seconds)) {
        snprintf(out, outSize, "%.1f seconds", seconds);
        return out;
    }
    if (seconds < 300)
        return fmtSeconds(out, outSize, seconds);
    uint64_t remaining = (uint64_t)llround(seconds);
    uint64_t days = remaining / 86400;
    uint64_t hours = remaining / 3600 % 24;
    uint64_t minutes = remaining / 60 % 60;
    uint64_t secs = remaining % 60;
    if (days)
        appendPart(out, outSize, days, "day");
    if (hours)
        appendPart(out, outSize, hours, "hour");
    if (minutes)
        appendPart(out, outSize, minutes, "minute");
    if (secs)
        appendPart(out, outSize, secs, "second");
    return out;
}

const char *fmtTimeLeft(char *out, size_t outSize, int64_t seconds)
{
    if (outSize == 0)
        return out;
    out[0] = '\0';
    if (seconds >= 86400)
        appendPart(out, outSize, (uint64_t)(seconds / 86400), "day");
    else if (seconds >= 3600)
        appendPart(out, outSize, (uint64_t)(seconds / 3600), "hour");
    else
        snprintf(out, outSize, "less than an hour");
    return out;
}
