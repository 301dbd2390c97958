/* Fuzz target: arbitrary bytes as any S3 XML answer (error, object listing,
 * multipart initiate, complete and upload listing) must never crash, leak,
 * hang or overrun a field; whatever a parser accepts must be bounded (keys
 * and tokens NUL-terminated inside their buffers).
 * Build: cmake -DNBK_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: ./s3_xml_fuzz corpus/ */
#include "storage/s3_xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ErrCode acceptObject(const char *key, uint64_t objectSize, int64_t mtime, void *payload)
{
    (void)objectSize;
    (void)mtime;
    (void)payload;
    if (strlen(key) >= 1024)
        abort(); /* a key longer than its field */
    return ERR_OK;
}

static ErrCode acceptUpload(const char *key, const char *uploadId, int64_t initiated, void *payload)
{
    (void)initiated;
    (void)payload;
    if (strlen(key) >= 1024 || strlen(uploadId) >= 1024 || !key[0] || !uploadId[0])
        abort();
    return ERR_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    S3XmlError error;
    if (s3XmlParseError(body, size, &error) && (strlen(error.code) >= sizeof(error.code)))
        abort();
    bool truncated;
    char token[64];
    if (s3XmlParseList(body, size, acceptObject, NULL, &truncated, token, sizeof(token)) == ERR_OK && truncated
        && token[0] == '\0')
        abort(); /* a truncated page must carry its continuation token */
    char uploadId[48];
    if (s3XmlParseInitiate(body, size, uploadId, sizeof(uploadId)) == ERR_OK && uploadId[0] == '\0')
        abort();
    s3XmlParseComplete(body, size, &error);
    char keyMarker[64], uploadIdMarker[64];
    s3XmlParseUploads(body, size, acceptUpload, NULL, &truncated, keyMarker, sizeof(keyMarker), uploadIdMarker,
                      sizeof(uploadIdMarker));
    char timeText[40];
    size_t timeLength = size < sizeof(timeText) - 1 ? size : sizeof(timeText) - 1;
    memcpy(timeText, data, timeLength);
    timeText[timeLength] = '\0';
    s3XmlParseTime(timeText);
    return 0;
}
