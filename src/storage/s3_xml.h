/* Parsers for the XML bodies an S3 service answers with. Everything here is
 * untrusted input: bodies are size-bounded by the caller, parsed with libxml2
 * without network access, DTD loading or entity substitution, and every
 * copied text is truncated to its field. Element names are matched on their
 * local name (S3 answers in the 2006-03-01 namespace, some servers without).
 * tests/fuzz/s3_xml_fuzz.c feeds arbitrary bytes to all of them. */
#ifndef NBK_STORAGE_S3_XML_H
#define NBK_STORAGE_S3_XML_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bodies larger than this are refused before parsing. */
#define S3_XML_MAX_BODY (16u * 1024u * 1024u)

typedef struct {
    char code[64];     /* e.g. "NoSuchKey", "SlowDown" */
    char message[256];
} S3XmlError;

/* True when body is an <Error> document; fills out (code may be empty when
 * the document has none). False for anything else, including malformed XML. */
bool s3XmlParseError(const char *body, size_t length, S3XmlError *out);

typedef ErrCode (*S3XmlObjectCallback)(const char *key, uint64_t size, int64_t mtime, void *payload);

/* One ListObjectsV2 page: calls back per <Contents>; *truncated and
 * nextToken (NextContinuationToken, empty when none) tell whether to go on.
 * BACKUP_IO_FAILED when the body is not a ListBucketResult. */
ErrCode s3XmlParseList(const char *body, size_t length, S3XmlObjectCallback callback, void *payload, bool *truncated,
                       char *nextToken, size_t nextTokenSize);

/* InitiateMultipartUploadResult: the UploadId. */
ErrCode s3XmlParseInitiate(const char *body, size_t length, char *uploadId, size_t uploadIdSize);

/* CompleteMultipartUpload answers 200 with either a
 * CompleteMultipartUploadResult (ERR_OK) or an <Error> (BACKUP_IO_FAILED with
 * error filled, which may be retried). Anything else is BACKUP_IO_FAILED. */
ErrCode s3XmlParseComplete(const char *body, size_t length, S3XmlError *error);

typedef ErrCode (*S3XmlUploadCallback)(const char *key, const char *uploadId, int64_t initiated, void *payload);

/* One ListMultipartUploads page; next markers are empty when none. */
ErrCode s3XmlParseUploads(const char *body, size_t length, S3XmlUploadCallback callback, void *payload,
                          bool *truncated, char *nextKeyMarker, size_t nextKeyMarkerSize, char *nextUploadIdMarker,
                          size_t nextUploadIdMarkerSize);

/* "2026-12-02T08:00:00.000Z" (ISO 8601 UTC) to epoch seconds; -1 if malformed. */
int64_t s3XmlParseTime(const char *text);


#endif
