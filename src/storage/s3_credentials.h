/* Temporary credentials of the machine the tool runs on, for an s3://
 * repository without keys in the settings (the tail of the AWS SDKs' chain):
 *   - a container's credentials endpoint (ECS task roles, EKS Pod Identity):
 *     AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI, with
 *     AWS_CONTAINER_AUTHORIZATION_TOKEN when given;
 *   - the EC2 instance metadata service, IMDSv2 only (a session token first;
 *     IMDSv1's unauthenticated GETs are what SSRF attacks steal keys with).
 * Both answer JSON {AccessKeyId, SecretAccessKey, Token, Expiration}. The
 * answer comes from the network, so its parser takes any bytes
 * (tests/fuzz/s3_credentials_fuzz.c). Secrets never reach a log line or an
 * error message. */
#ifndef NBK_STORAGE_S3_CREDENTIALS_H
#define NBK_STORAGE_S3_CREDENTIALS_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S3_CREDENTIALS_ANSWER_MAX (64u * 1024u)
#define S3_INSTANCE_METADATA_DEFAULT "http://169.254.169.254"
#define S3_CONTAINER_CREDENTIALS_HOST "http://169.254.170.2"

typedef enum {
    S3_CREDENTIALS_STATIC,    /* the keys in S3Config (settings or credentials file) */
    S3_CREDENTIALS_CONTAINER, /* GET of S3Config.credentialsUri */
    S3_CREDENTIALS_INSTANCE,  /* IMDSv2 at S3Config.credentialsUri */
} S3CredentialSource;

typedef struct {
    char accessKey[256];
    char secretKey[256];     /* secret */
    char sessionToken[4096]; /* secret */
    int64_t expires;         /* unix seconds; 0 = no expiry given */
} S3Credentials;

/* Parses a credentials answer. BACKUP_CORRUPTED naming what is wrong (never
 * a value) for anything but a JSON object with the two keys, a token and an
 * expiry that fit their fields; an IMDS "Code" other than "Success" is
 * STORAGE_AUTH_FAILED. */
ErrCode s3CredentialsAnswerParse(const char *body, size_t length, S3Credentials *out);

/* "2026-12-02T21:00:00Z" (also with fractional seconds or "+00:00") to unix
 * seconds; false for anything else. */
bool s3ParseIsoTime(const char *text, int64_t *out);

/* Checks a container credentials URI as the AWS SDKs do: https, or http to
 * loopback or the container agent's link-local addresses only, so a token is
 * never sent in clear across a network. CONFIG_INVALID otherwise. */
ErrCode s3ContainerUriCheck(const char *uri);

/* Fetches credentials from the source. uri: the container URI or the
 * metadata endpoint; authorization: the container token (may be NULL);
 * caFile for an https container URI (may be empty). STORAGE_UNREACHABLE
 * when the service does not answer, STORAGE_AUTH_FAILED when it refuses or
 * the instance has no role. */
ErrCode s3CredentialsFetch(S3CredentialSource source, const char *uri, const char *authorization,
                           const char *caFile, S3Credentials *out);

/* Clears the secrets. */
void s3CredentialsWipe(S3Credentials *credentials);

#endif
