/* Fuzz target: arbitrary bytes as a lock object's body, read back from a
 * bucket others may write to. The parser must never read past the body,
 * overrun a field, or leave a control character in a text it returns.
 * Build: cmake -DNBK_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: ./s3_lock_record_fuzz corpus/ */
#include "storage/s3_lock_record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void checkText(const char *text, size_t fieldSize)
{
    size_t length = strnlen(text, fieldSize);
    if (length >= fieldSize)
        abort(); /* not terminated inside its field */
    for (size_t index = 0; index < length; index++)
        if ((unsigned char)text[index] < 0x20 || text[index] == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so ASan sees any read past the end. */
    char *body = malloc(size ? size : 1);
    if (!body)
        return 0;
    if (size)
        memcpy(body, data, size);
    S3LockRecord record;
    s3LockRecordParse(body, size, &record);
    checkText(record.owner, sizeof(record.owner));
    checkText(record.host, sizeof(record.host));
    checkText(record.pid, sizeof(record.pid));
    if (record.hasExpires && record.expires < 0)
        abort();
    if (!record.hasExpires && s3LockRecordExpired(&record, INT64_MAX))
        abort(); /* a record without a valid expiry must stay held */
    free(body);
    return 0;
}
