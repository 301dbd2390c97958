/* Fuzz target: arbitrary bytes as a lock object's body, read back from a
 * bucket others may write to. The parser must never read past the body,
 * overrun a field, or leave a control character in a text it returns.
 * Build: cmake -DNBK_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: ./s3_lock_record_fuzz corpus/ */
#include "fuzz_text.h"
#include "storage/s3_lock_record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = fuzzExactCopy(data, size);
    if (!body)
        return 0;
    S3LockRecord record;
    s3LockRecordParse(body, size, &record);
    fuzzCheckText(record.owner, sizeof(record.owner), true);
    fuzzCheckText(record.host, sizeof(record.host), true);
    fuzzCheckText(record.pid, sizeof(record.pid), true);
    if (record.hasExpires && record.expires < 0)
        abort();
    if (!record.hasExpires && s3LockRecordExpired(&record, INT64_MAX))
        abort(); /* a record without a valid expiry must stay held */
    free(body);
    return 0;
}
