/* Human-readable numbers for the contract's output lines.
 *
 * Sizes use DECIMAL units (1 KB = 1000 bytes, 1 MB = 1000^2, 1 GB = 1000^3),
 * written "KB", "MB", "GB", "TB", "PB" as in the contract's listing
 * ("314.5 MB", "2.2 GB"); the same convention as disk vendors and `df -H`.
 * Sizes in bytes are exact in --json output, so nothing is lost.
 *
 * All functions write a NUL-terminated text into the caller's buffer of
 * FORMAT_TEXT_SIZE bytes (or fewer: the text is then truncated, never
 * overflowed) and return it for use inside a printf argument list. */
#ifndef NBK_COMMON_FORMAT_H
#define NBK_COMMON_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define FORMAT_TEXT_SIZE 64

/* "0 B", "999 B", "1.0 KB", "314.5 MB", "2.2 GB": one decimal from KB up. */
const char *fmtSize(char *out, size_t outSize, uint64_t bytes);
/* Whole units for the space lines "Required: 524 MB | Available: 50 MB". */
const char *fmtSizeWhole(char *out, size_t outSize, uint64_t bytes);
/* part / whole as a rounded percentage: "60%"; "0%" when whole is 0. */
const char *fmtPercent(char *out, size_t outSize, uint64_t part, uint64_t whole);
/* Durations as the contract writes them: below five minutes in seconds only
 * ("145 seconds", "1 second", "0.4 seconds" below ten seconds when not whole),
 * from five minutes on in parts with zero parts left out: "8 minutes 42 seconds",
 * "1 hour 5 minutes", "2 days 3 hours". */
const char *fmtDuration(char *out, size_t outSize, double seconds);
/* Always whole seconds: "145 seconds", "1 second" (scheduler log lines). */
const char *fmtSeconds(char *out, size_t outSize, double seconds);
/* Remaining time in the largest whole unit, for "expires in 2 days":
 * "2 days", "1 day", "5 hours", "1 hour", "less than an hour". Negative or
 * zero gives "less than an hour". Days are rounded down. */
const char *fmtTimeLeft(char *out, size_t outSize, int64_t seconds);

/* Text from the repository (manifests, file names) or from a server made
 * safe for a terminal: control characters (C0 and DEL, and C1 U+0080..U+009F)
 * and bytes that are not valid UTF-8 are written as \xHH, and the Unicode
 * controls that reorder or hide text (U+061C, U+200B..U+200F, U+2028..U+202E,
 * U+2060..U+206F, U+FEFF) as \uXXXX, so no escape sequence reaches the operator
 * and nothing is hidden. Other valid UTF-8 is kept. keepLineBreaks keeps '\n'
 * and '\t' (for log lines that span lines). NULL gives "". Truncates at a
 * character boundary. Returns out. */
const char *fmtPrintableEx(char *out, size_t outSize, const char *text, int keepLineBreaks);
/* fmtPrintableEx without line breaks: one field on one line. */
const char *fmtPrintable(char *out, size_t outSize, const char *text);

#endif
