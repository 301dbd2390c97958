/* libxml2 parsers for S3's XML answers (see s3_xml.h): errors, object
 * listings, multipart upload initiation, completion and listing. */
#include "storage/s3_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* No network, no DTD, no entity expansion, no messages on stderr. */
#define S3_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

static xmlDocPtr s3XmlRead(const char *body, size_t length)
{
    if (!body || length == 0 || length > S3_XML_MAX_BODY)
        return NULL;
    return xmlReadMemory(body, (int)length, "s3.xml", NULL, S3_XML_OPTIONS);
}

static bool nameIs(const xmlNode *node, const char *name)
{
    return node && node->type == XML_ELEMENT_NODE && node->name && strcmp((const char *)node->name, name) == 0;
}

static const xmlNode *childNamed(const xmlNode *parent, const char *name)
{
    for (const xmlNode *child = parent ? parent->children : NULL; child; child = child->next)
        if (nameIs(child, name))
            return child;
    return NULL;
}

/* Copies the text of the child element `name` (truncated); "" when absent. */
static void childText(const xmlNode *parent, const char *name, char *out, size_t outSize)
{
    if (outSize == 0)
        return;
    out[0] = '\0';
    const xmlNode *child = childNamed(parent, name);
    if (!child)
        return;
    xmlChar *content = xmlNodeGetContent(child);
    if (!content)
        return;
    snprintf(out, outSize, "%s", (const char *)content);
    xmlFree(content);
}

static bool childTextIsTrue(const xmlNode *parent, const char *name)
{
    char text[8];
    childText(parent, name, text, sizeof(text));
    return strcmp(text, "true") == 0;
}

int64_t s3XmlParseTime(const char *text)
{
    int year, month, day, hour, minute, second;
    char trailing = 0;
    if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%c", &year, &month, &day, &hour, &minute, &second, &trailing) < 6)
        return -1;
    if (year < 1970 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || hour < 0
        || minute > 59 || minute < 0 || second > 60 || second < 0)
        return -1;
    struct tm parts = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
                       .tm_hour = hour, .tm_min = minute, .tm_sec = second};
    return (int64_t)timegm(&parts);
}

static void fillError(const xmlNode *root, S3XmlError *out)
{
    childText(root, "Code", out->code, sizeof(out->code));
    childText(root, "Message", out->message, sizeof(out->message));
}

bool s3XmlParseError(const char *body, size_t length, S3XmlError *out)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr document = s3XmlRead(body, length);
    if (!document)
        return false;
    const xmlNode *root = xmlDocGetRootElement(document);
    bool isError = nameIs(root, "Error");
    if (isError)
        fillError(root, out);
    xmlFreeDoc(document);
    return isError;
}

ErrCode s3XmlParseList(const char *body, size_t length, S3XmlObjectCallback callback, void *payload, bool *truncated,
                       char *nextToken, size_t nextTokenSize)
{
    *truncated = false;
    if (nextTokenSize)
        nextToken[0] = '\0';
    xmlDocPtr document = s3XmlRead(body, length);
    const xmlNode *root = document ? xmlDocGetRootElement(document) : NULL;
    if (!nameIs(root, "ListBucketResult")) {
        xmlFreeDoc(document);
        return errSet(BACKUP_IO_FAILED, "object listing: the answer is not a ListBucketResult");
    }
    ErrCode result = ERR_OK;
    for (const xmlNode *child = root->children; child && result == ERR_OK; child = child->next) {
        if (!nameIs(child, "Contents"))
            continue;
        char key[1024], sizeText[32], modified[64];
        childText(child, "Key", key, sizeof(key));
        childText(child, "Size", sizeText, sizeof(sizeText));
        childText(child, "LastModified", modified, sizeof(modified));
        char *end = NULL;
        unsigned long long size = strtoull(sizeText, &end, 10);
        if (key[0] == '\0' || sizeText[0] == '\0' || sizeText[0] == '-' || !end || *end != '\0') {
            result = errSet(BACKUP_IO_FAILED, "object listing: an entry without a key or a valid size");
            break;
        }
        result = callback(key, (uint64_t)size, s3XmlParseTime(modified), payload);
    }
    if (result == ERR_OK) {
        *truncated = childTextIsTrue(root, "IsTruncated");
        childText(root, "NextContinuationToken", nextToken, nextTokenSize);
        if (*truncated && (nextTokenSize == 0 || nextToken[0] == '\0'))
            result = errSet(BACKUP_IO_FAILED, "object listing: truncated page without a continuation token");
    }
    xmlFreeDoc(document);
    return result;
}

ErrCode s3XmlParseInitiate(const char *body, size_t length, char *uploadId, size_t uploadIdSize)
{
    xmlDocPtr document = s3XmlRead(body, length);
    const xmlNode *root = document ? xmlDocGetRootElement(document) : NULL;
    ErrCode result = ERR_OK;
    if (!nameIs(root, "InitiateMultipartUploadResult"))
        result = errSet(BACKUP_IO_FAILED, "multipart upload: the answer is not an InitiateMultipartUploadResult");
    else {
        childText(root, "UploadId", uploadId, uploadIdSize);
        if (uploadIdSize == 0 || uploadId[0] == '\0' || strlen(uploadId) + 1 >= uploadIdSize)
            result = errSet(BACKUP_IO_FAILED, "multipart upload: missing or oversized UploadId");
    }
    xmlFreeDoc(document);
    return result;
}

ErrCode s3XmlParseComplete(const char *body, size_t length, S3XmlError *error)
{
    memset(error, 0, sizeof(*error));
    xmlDocPtr document = s3XmlRead(body, length);
    const xmlNode *root = document ? xmlDocGetRootElement(document) : NULL;
    ErrCode result = ERR_OK;
    if (nameIs(root, "Error")) {
        fillError(root, error);
        result = errSet(BACKUP_IO_FAILED, "completing the multipart upload failed: %s %s", error->code, error->message);
    } else if (!nameIs(root, "CompleteMultipartUploadResult")
               && !nameIs(root, "CompleteMultipartUploadResponse")) { /* moto's name for it */
        result = errSet(BACKUP_IO_FAILED, "completing the multipart upload: unexpected answer");
    }
    xmlFreeDoc(document);
    return result;
}

ErrCode s3XmlParseUploads(const char *body, size_t length, S3XmlUploadCallback callback, void *payload,
                          bool *truncated, char *nextKeyMarker, size_t nextKeyMarkerSize, char *nextUploadIdMarker,
                          size_t nextUploadIdMarkerSize)
{
    *truncated = false;
    if (nextKeyMarkerSize)
        nextKeyMarker[0] = '\0';
    if (nextUploadIdMarkerSize)
        nextUploadIdMarker[0] = '\0';
    xmlDocPtr document = s3XmlRead(body, length);
    const xmlNode *root = document ? xmlDocGetRootElement(document) : NULL;
    if (!nameIs(root, "ListMultipartUploadsResult")) {
        xmlFreeDoc(document);
        return errSet(BACKUP_IO_FAILED, "upload listing: the answer is not a ListMultipartUploadsResult");
    }
    ErrCode result = ERR_OK;
    for (const xmlNode *child = root->children; child && result == ERR_OK; child = child->next) {
        if (!nameIs(child, "Upload"))
            continue;
        char key[1024], uploadId[1024], initiated[64];
        childText(child, "Key", key, sizeof(key));
        childText(child, "UploadId", uploadId, sizeof(uploadId));
        childText(child, "Initiated", initiated, sizeof(initiated));
        if (key[0] == '\0' || uploadId[0] == '\0') {
            result = errSet(BACKUP_IO_FAILED, "upload listing: an entry without a key or an upload id");
            break;
        }
        result = callback(key, uploadId, s3XmlParseTime(initiated), payload);
    }
    if (result == ERR_OK) {
        *truncated = childTextIsTrue(root, "IsTruncated");
        childText(root, "NextKeyMarker", nextKeyMarker, nextKeyMarkerSize);
        childText(root, "NextUploadIdMarker", nextUploadIdMarker, nextUploadIdMarkerSize);
        if (*truncated && (nextKeyMarkerSize == 0 || nextKeyMarker[0] == '\0'))
            result = errSet(BACKUP_IO_FAILED, "upload listing: truncated page without a next marker");
    }
    xmlFreeDoc(document);
    return result;
}
