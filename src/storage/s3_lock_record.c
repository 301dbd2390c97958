/* Parser of lock object bodies (see s3_lock_record.h). */
#include "storage/s3_lock_record.h"

#include <string.h>

/* Copies one value, stopping at the line's end or the field's size; control
 * characters become spaces so a hostile record cannot forge log lines. */
static void copyValue(char *out, size_t outSize, const char *value, size_t valueLength)
{
    if (valueLength >= outSize)
        valueLength = outSize - 1;
    for (size_t index = 0; index < valueLength; index++) {
        unsigned char character = (unsigned char)value[index];
        out[index] = character < 0x20 || character == 0x7f ? ' ' : (char)character;
    }
    out[valueLength] = '\0';
}

/* A non-negative decimal that fits in int64_t, nothing else ("12abc", "",
 * "-1", "+1" and " 1" are refused). */
static bool parseSeconds(const char *text, size_t length, int64_t *out)
{
    if (length == 0 || length > 18) /* 18 digits always fit */
        return false;
    int64_t value = 0;
    for (size_t index = 0; index < length; index++) {
        if (text[index] < '0' || text[index] > '9')
            return false;
        value = value * 10 + (text[index] - '0');
    }
    *out = value;
    return true;
}

void s3LockRecordParse(const char *body, size_t length, S3LockRecord *out)
{
    memset(out, 0, sizeof(*out));
    bool seenOwner = false, seenHost = false, seenPid = false, seenExpires = false;
    size_t position = 0;
    while (position < length) {
        const char *line = body + position;
        const char *end = memchr(line, '\n', length - position);
        size_t lineLength = end ? (size_t)(end - line) : length - position;
        position += lineLength + (end ? 1 : 0);
        if (lineLength > 0 && line[lineLength - 1] == '\r')
            lineLength--;
        const char *equals = memchr(line, '=', lineLength);
        if (!equals)
            continue;
        size_t nameLength = (size_t)(equals - line);
        const char *value = equals + 1;
        size_t valueLength = lineLength - nameLength - 1;
        /* The first occurrence of a field wins, as in the record we write. */
        if (nameLength == 5 && memcmp(line, "owner", 5) == 0 && !seenOwner) {
            copyValue(out->owner, sizeof(out->owner), value, valueLength);
            seenOwner = true;
        } else if (nameLength == 4 && memcmp(line, "host", 4) == 0 && !seenHost) {
            copyValue(out->host, sizeof(out->host), value, valueLength);
            seenHost = true;
        } else if (nameLength == 3 && memcmp(line, "pid", 3) == 0 && !seenPid) {
            copyValue(out->pid, sizeof(out->pid), value, valueLength);
            seenPid = true;
        } else if (nameLength == 7 && memcmp(line, "expires", 7) == 0 && !seenExpires) {
            out->hasExpires = parseSeconds(value, valueLength, &out->expires);
            seenExpires = true;
        }
    }
}

bool s3LockRecordExpired(const S3LockRecord *record, int64_t now)
{
    return record->hasExpires && record->expires < now;
}
