/* The body of a lock object on object storage: "owner=…\nhost=…\npid=…\n
 * expires=<unix seconds>\n". Written by us, but read back from a bucket that
 * others can write to, so the parser takes any bytes: it never reads past
 * `length`, truncates each text to its field, and accepts an expiry only when
 * it is a plain decimal number. tests/fuzz/s3_lock_record_fuzz.c feeds it
 * arbitrary bytes. */
#ifndef NBK_STORAGE_S3_LOCK_RECORD_H
#define NBK_STORAGE_S3_LOCK_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char owner[256];
    char host[256];
    char pid[32];     /* as text: only shown to the operator */
    bool hasExpires;  /* false: no expiry line, or not a number */
    int64_t expires;  /* unix seconds */
} S3LockRecord;

/* Fills out from a lock object's body. Missing fields are empty. */
void s3LockRecordParse(const char *body, size_t length, S3LockRecord *out);

/* Expired: it names an expiry and that moment has passed. A record without a
 * valid expiry is never expired: a lock we cannot judge is treated as held. */
bool s3LockRecordExpired(const S3LockRecord *record, int64_t now);

#endif
