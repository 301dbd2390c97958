/* Repository files for the catalog's modules, read through a Storage with the
 * repository's usual refusals and wording (catalog_file.h). */
#include "catalog/catalog_file.h"

#include "common/fsutil.h" /* fsPathJoin only: a string helper, touches no file */
#include "common/mem.h"
#include "storage/posix.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ErrCode catFileJoin(char *out, size_t outSize, const char *dir, const char *name)
{
    int written = dir[0] ? snprintf(out, outSize, "%s/%s", dir, name) : snprintf(out, outSize, "%s", name);
    if (written < 0 || (size_t)written >= outSize) {
        if (outSize)
            out[0] = '\0';
        return errSet(BACKUP_IO_FAILED, "name too long: %s/%s", dir, name);
    }
    return ERR_OK;
}

const char *catFileShow(Storage *storage, const char *name, char *out, size_t outSize)
{
    const char *root = storagePosixRoot(storage);
    if (!root)
        snprintf(out, outSize, "%s", name);
    else if (!name[0])
        snprintf(out, outSize, "%s", root);
    else if (fsPathJoin(out, outSize, root, name) != ERR_OK)
        snprintf(out, outSize, "%s/%s", root, name); /* truncated, still readable */
    return out;
}

ErrCode catFileReadOpen(Storage *storage, const char *name, StorageRead **out)
{
    *out = NULL;
    ErrCode result = storageReadOpen(storage, name, 0, STORAGE_READ_ALL, out);
    if (result == ERR_OK)
        return ERR_OK;
    char shown[4096];
    catFileShow(storage, name, shown, sizeof(shown));
    if (result == BACKUP_NOT_FOUND)
        return errSet(BACKUP_NOT_FOUND, "cannot open %s: no such file", shown);
    /* Say what the entry is, as the repository always has; the open itself
     * already refused it without following or waiting on it. */
    ErrDetail failure = errSave();
    StorageInfo info;
    if (storageInfo(storage, name, &info) == ERR_OK) {
        if (info.kind == STORAGE_KIND_LINK)
            return errSet(BACKUP_IO_FAILED, "refusing to open %s: it is a symbolic link", shown);
        if (info.kind != STORAGE_KIND_FILE)
            return errSet(BACKUP_IO_FAILED, "refusing to read %s: not a regular file", shown);
    }
    return errRestore(&failure);
}

ErrCode catFileReadAll(Storage *storage, const char *name, size_t maxBytes, Buffer *out)
{
    bufferClear(out);
    StorageRead *reader = NULL;
    ErrCode result = catFileReadOpen(storage, name, &reader);
    if (result != ERR_OK)
        return result;
    uint8_t chunk[16384];
    for (;;) {
        size_t got = 0;
        result = storageRead(reader, chunk, sizeof(chunk), &got);
        if (result != ERR_OK || got == 0)
            break;
        if (out->length + got > maxBytes) {
            bufferClear(out);
            char shown[4096];
            result = errSet(BACKUP_IO_FAILED, "cannot read %s: larger than %zu bytes",
                            catFileShow(storage, name, shown, sizeof(shown)), maxBytes);
            break;
        }
        bufferAppend(out, chunk, got);
    }
    storageReadClose(reader);
    return result;
}

ErrCode catFileSha256(Storage *storage, const char *name, char hex[65], uint64_t *size, int64_t *mtime)
{
    StorageRead *reader = NULL;
    ErrCode result = catFileReadOpen(storage, name, &reader);
    if (result != ERR_OK)
        return result;
    StorageInfo info;
    result = storageReadInfo(reader, &info);
    if (result == ERR_OK && mtime)
        *mtime = info.mtime;
    enum { READ_CHUNK = 1024 * 1024 };
    unsigned char *chunk = memAlloc(READ_CHUNK);
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    if (result == ERR_OK && (!sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)) {
        char shown[4096];
        result = errSet(ERR_INTERNAL, "cannot set up SHA-256 for %s", catFileShow(storage, name, shown, sizeof(shown)));
    }
    uint64_t total = 0;
    while (result == ERR_OK) {
        size_t got = 0;
        result = storageRead(reader, chunk, READ_CHUNK, &got);
        if (result != ERR_OK || got == 0)
            break;
        EVP_DigestUpdate(sha, chunk, got);
        total += got;
    }
    if (result == ERR_OK) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int digestLength = 0;
        EVP_DigestFinal_ex(sha, digest, &digestLength);
        for (unsigned int index = 0; index < 32 && index < digestLength; index++)
            snprintf(hex + 2 * index, 3, "%02x", digest[index]);
        hex[64] = '\0';
        *size = total;
    }
    EVP_MD_CTX_free(sha);
    free(chunk);
    storageReadClose(reader);
    return result;
}
