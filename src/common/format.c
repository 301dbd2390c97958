/* Human-readable sizes, percentages and durations for the contract's output
 * lines (units in format.h), and fmtPrintable, the sanitiser of logged text. */
#include "common/format.h"

#include <math.h>
#include <stdbool.h>
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

/* Length of the valid UTF-8 sequence at text (1..4) and its code point, or 0
 * when the bytes there are not valid UTF-8 (overlong forms, surrogates and
 * values above U+10FFFF included). A NUL stops any sequence. */
static size_t fmtUtf8Sequence(const unsigned char *text, uint32_t *codePoint)
{
    unsigned char lead = text[0];
    size_t length;
    uint32_t value;
    if (lead < 0x80) {
        *codePoint = lead;
        return 1;
    }
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
        value = lead & 0x1Fu;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        value = lead & 0x0Fu;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        value = lead & 0x07u;
    } else {
        return 0;
    }
    for (size_t index = 1; index < length; index++) {
        if ((text[index] & 0xC0u) != 0x80u)
            return 0;
        value = (value << 6) | (text[index] & 0x3Fu);
    }
    if ((length == 3 && value < 0x800) || (length == 4 && value < 0x10000) || value > 0x10FFFF
        || (value >= 0xD800 && value <= 0xDFFF))
        return 0;
    *codePoint = value;
    return length;
}

/* Format characters that reorder or hide text on a terminal ("Trojan source"). */
static int fmtIsInvisibleControl(uint32_t codePoint)
{
    return codePoint == 0x061C || (codePoint >= 0x200B && codePoint <= 0x200F)
           || (codePoint >= 0x2028 && codePoint <= 0x202E) || (codePoint >= 0x2060 && codePoint <= 0x206F)
           || codePoint == 0xFEFF;
}

const char *fmtPrintableEx(char *out, size_t outSize, const char *text, int keepLineBreaks)
{
    if (outSize == 0)
        return out;
    size_t used = 0;
    const unsigned char *cursor = (const unsigned char *)(text ? text : "");
    while (*cursor) {
        char piece[16];
        size_t pieceLength;
        uint32_t codePoint = 0;
        size_t length = fmtUtf8Sequence(cursor, &codePoint);
        bool lineBreak = keepLineBreaks && (codePoint == '\n' || codePoint == '\t');
        if (length == 0) {
            pieceLength = (size_t)snprintf(piece, sizeof(piece), "\\x%02X", cursor[0]);
            length = 1;
        } else if (!lineBreak && (codePoint < 0x20 || codePoint == 0x7F || (codePoint >= 0x80 && codePoint <= 0x9F))) {
            pieceLength = 0;
            for (size_t index = 0; index < length; index++)
                pieceLength += (size_t)snprintf(piece + pieceLength, sizeof(piece) - pieceLength, "\\x%02X",
                                                cursor[index]);
        } else if (fmtIsInvisibleControl(codePoint)) {
            pieceLength = (size_t)snprintf(piece, sizeof(piece), "\\u%04X", (unsigned)codePoint);
        } else {
            memcpy(piece, cursor, length);
            pieceLength = length;
        }
        if (used + pieceLength >= outSize)
            break; /* truncate at a character boundary */
        memcpy(out + used, piece, pieceLength);
        used += pieceLength;
        cursor += length;
    }
    out[used] = '\0';
    return out;
}

const char *fmtPrintable(char *out, size_t outSize, const char *text)
{
    return fmtPrintableEx(out, outSize, text, 0);
}
