/* The S3 storage driver: a repository under s3://bucket/prefix on AWS S3 or
 * any S3-compatible service, spoken to with libcurl (SigV4 by
 * CURLOPT_AWS_SIGV4, x-amz-content-sha256 with the body's SHA-256 on every
 * request, x-amz-security-token with a session token).
 *
 * - Writes buffer one part; a file smaller than the first part is one PUT,
 *   a larger one a multipart upload whose part size doubles every 1,000 parts
 *   (so 10,000 parts reach more than 5 TB), at most partsInFlight parts
 *   uploading at once, each retried on its own with its own SHA-256. Only
 *   CompleteMultipartUpload makes the object visible; an abort or a failure
 *   sends AbortMultipartUpload. Memory: (partsInFlight + 1) x the current part.
 * - Reads are ranged GETs of readChunk bytes, each pinned to the object's ETag
 *   (If-Match), so a file replaced mid-read fails instead of mixing versions.
 * - Retries: exponential backoff with full jitter on 5xx, SlowDown,
 *   RequestTimeout, ConditionalRequestConflict, time-outs and dropped
 *   connections; never on refused credentials (STORAGE_AUTH_FAILED) or a
 *   missing bucket (CONFIG_INVALID). Retries exhausted on the network:
 *   STORAGE_UNREACHABLE.
 * - Locks: an object created with If-None-Match: * holding owner, host, pid
 *   and expiry; an expired lock is removed and taken over; refresh rewrites
 *   the expiry.
 * - Space: not applicable.
 * The driver never reads the environment: the caller fills S3Config (see
 * s3ConfigFromLookup for the AWS variables). Secrets never reach a log line or
 * an error message. */
#ifndef NBK_STORAGE_S3_H
#define NBK_STORAGE_S3_H

#include "storage/s3_credentials.h"
#include "storage/storage.h"

#define S3_PART_SIZE_MIN (5ull * 1024 * 1024)        /* S3's minimum for all but the last part */
#define S3_PART_SIZE_MAX (5ull * 1024 * 1024 * 1024) /* S3's maximum part */
#define S3_PART_COUNT_MAX 10000u

typedef enum {
    S3_URI_STYLE_HOST, /* virtual-hosted: https://bucket.host/key (AWS's default) */
    S3_URI_STYLE_PATH, /* path-style: https://host/bucket/key (most self-hosted services) */
} S3UriStyle;

typedef struct {
    char bucket[64];
    char prefix[1024];       /* key prefix without leading/trailing '/', may be empty */
    char endpoint[512];      /* "https://host[:port]"; empty = https://s3.<region>.amazonaws.com */
    char region[64];         /* signing region; empty = us-east-1 */
    char accessKey[256];
    char secretKey[256];     /* secret: never logged */
    char sessionToken[4096]; /* secret: never logged; empty = none */
    /* Without keys: temporary credentials fetched from the container's
     * endpoint or the instance metadata service (s3_credentials.h), and
     * fetched again shortly before they expire. */
    S3CredentialSource credentialSource;
    char credentialsUri[1024];   /* CONTAINER: the full URI; INSTANCE: the metadata endpoint */
    char credentialsToken[4096]; /* CONTAINER: the Authorization value, secret; may be empty */
    S3UriStyle uriStyle;
    char caFile[1024];       /* CA bundle for TLS; empty = the system's */
    char sse[16];            /* "" (none), "AES256" (SSE-S3) or "aws:kms" (SSE-KMS) */
    char sseKmsKeyId[256];   /* with "aws:kms": the key id; empty = the bucket's default key */
    char storageClass[32];   /* e.g. "STANDARD_IA"; empty = the bucket's default */
    uint64_t partSize;       /* first part size, >= 5 MiB (default 8 MiB) */
    unsigned partsInFlight;  /* parts uploading at once, 1..64 (default 4) */
    uint64_t readChunk;      /* bytes per ranged GET (default 8 MiB) */
    int connectTimeoutMs;    /* default 10000 */
    int stallTimeoutMs;      /* a transfer moving nothing this long is a time-out (default 60000) */
    unsigned attempts;       /* tries per request, >= 1 (default 6) */
    int retryBaseMs;         /* first backoff (default 200); doubles, full jitter, capped at 20 s */
} S3Config;

/* Sets every field to its default (empty strings, the numbers above). */
void s3ConfigDefaults(S3Config *config);

/* Checks the configuration (CONFIG_INVALID naming the field) and opens a
 * Storage on it. No request is sent yet. */
ErrCode storageS3New(const S3Config *config, Storage **out);

/* Returns the value of an environment-like key, or NULL when unset. */
typedef const char *(*S3Lookup)(const char *key, void *payload);

/* Fills what the environment can give, on top of what config already holds
 * (call s3ConfigDefaults first): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN; failing those, the [AWS_PROFILE or default] section of
 * AWS_SHARED_CREDENTIALS_FILE (or $HOME/.aws/credentials, read only when
 * present); failing those, a container's credentials endpoint
 * (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, else _FULL_URI, with
 * AWS_CONTAINER_AUTHORIZATION_TOKEN), else the instance metadata service
 * (AWS_EC2_METADATA_SERVICE_ENDPOINT, default http://169.254.169.254) unless
 * AWS_EC2_METADATA_DISABLED is true; AWS_REGION, else AWS_DEFAULT_REGION;
 * AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL. A key given without its secret
 * (or the reverse) is CONFIG_INVALID. */
ErrCode s3ConfigFromLookup(S3Config *config, S3Lookup lookup, void *payload);

/* Parses an AWS shared credentials file (INI) and copies the profile's
 * aws_access_key_id, aws_secret_access_key and aws_session_token into config.
 * BACKUP_NOT_FOUND when the profile is absent; CONFIG_INVALID when it lacks
 * a key or its secret. */
ErrCode s3CredentialsParse(const char *text, size_t length, const char *profile, S3Config *config);

/* Size of part partNumber (1-based) when the first part is firstPartSize. */
uint64_t s3PartSize(uint64_t firstPartSize, unsigned partNumber);

/* Aborts the multipart uploads left below dir ("" = the whole prefix) that
 * were initiated before `olderThan` (epoch seconds); *aborted counts them.
 * BACKUP_IO_FAILED when storage is not an S3 storage. */
ErrCode storageS3AbortUploads(Storage *storage, const char *dir, int64_t olderThan, unsigned *aborted);

#endif
