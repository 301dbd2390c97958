/* Pieces of the S3 driver that unit tests check without a server: key
 * encoding and the retry decision. Not for other modules. */
#ifndef NBK_STORAGE_S3_INTERNAL_H
#define NBK_STORAGE_S3_INTERNAL_H

#include "common/buffer.h"
#include "common/error.h"

#include <stdbool.h>

/* Appends text URI-encoded as SigV4 wants it: unreserved characters
 * (A-Z a-z 0-9 - . _ ~) kept, '/' kept when keepSlash, the rest %XX. */
void s3UriEncode(Buffer *out, const char *text, bool keepSlash);

typedef enum {
    S3_OUTCOME_DONE,  /* a final answer: success or an error not worth repeating */
    S3_OUTCOME_RETRY, /* transient: back off and try again */
} S3Outcome;

/* curlCode: the transfer's CURLcode (0 when an HTTP answer arrived);
 * status: the HTTP status; errorCode: S3's <Code>, "" when none. */
S3Outcome s3Classify(int curlCode, long status, const char *errorCode);

/* The ErrCode a final failure maps to: refused credentials
 * STORAGE_AUTH_FAILED, a missing key BACKUP_NOT_FOUND, a missing bucket
 * CONFIG_INVALID, network failures STORAGE_UNREACHABLE, the rest
 * BACKUP_IO_FAILED. */
ErrCode s3ErrorCodeFor(int curlCode, long status, const char *errorCode);

#endif
