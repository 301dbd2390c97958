/* Archive helpers shared by writer and reader users: compression names and
 * the streamed SHA-256 of a whole file. */
#include "archive/archive.h"
#include "common/fsutil.h"
#include "common/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *arcCompressionName(ArcCompression compression)
{
    switch (compression) {
    case ARC_COMPRESSION_NONE:
        return "none";
    case ARC_COMPRESSION_GZIP:
        return "gzip";
    case ARC_COMPRESSION_ZSTD:
        return "zstd";
    }
    return "unknown";
}

ErrCode arcCompressionParse(const char *name, ArcCompression *out)
{
    static const ArcCompression all[] = {ARC_COMPRESSION_NONE, ARC_COMPRESSION_GZIP,
                                         ARC_COMPRESSION_ZSTD};
    for (size_t index = 0; name && index < sizeof(all) / sizeof(all[0]); index++) {
        if (strcmp(name, arcCompressionName(all[index])) == 0) {
            *out = all[index];
            return ERR_OK;
        }
    }
    return errSet(CONFIG_INVALID, "unknown compression '%s' (expected none, gzip or zstd)",
                  name ? name : "");
}

const char *arcFileName(ArcCompression compression)
{
    switch (compression) {
    case ARC_COMPRESSION_NONE:
        return "graph.nbk";
    case ARC_COMPRESSION_GZIP:
        return "graph.nbk.gz";
    case ARC_COMPRESSION_ZSTD:
        return "graph.nbk.zst";
    }
    return "graph.nbk";
}

ErrCode arcOpenFile(const char *path, int *fd)
{
    /* Never blocks on a FIFO, never follows a link: see fsOpenRegular. */
    *fd = -1;
    ErrCode opened = fsOpenRegular(path, fd, NULL);
    if (opened == BACKUP_NOT_FOUND)
        return errSet(BACKUP_NOT_FOUND, "archive file missing: %s", path);
    return opened;
}

ErrCode arcSha256File(const char *path, char hex[65], uint64_t *sizeOut)
{
    int fd = -1;
    ErrCode opened = arcOpenFile(path, &fd);
    if (opened != ERR_OK)
        return opened;
    enum { READ_CHUNK = 1024 * 1024 };
    uint8_t *chunk = memAlloc(READ_CHUNK);
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    ErrCode result = ERR_OK;
    uint64_t total = 0;
    if (!sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
        result = errSet(ERR_INTERNAL, "cannot set up SHA-256 for %s", path);
        goto done;
    }
    for (;;) {
        ssize_t got = read(fd, chunk, READ_CHUNK);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            result = errSet(BACKUP_IO_FAILED, "cannot read %s: %s", path, strerror(errno));
            goto done;
        }
        if (got == 0)
            break;
        EVP_DigestUpdate(sha, chunk, (size_t)got);
        total += (uint64_t)got;
    }
    uint8_t digest[32];
    unsigned int digestLength = 0;
    EVP_DigestFinal_ex(sha, digest, &digestLength);
    for (unsigned int index = 0; index < 32; index++)
        snprintf(hex + 2 * index, 3, "%02x", digest[index]);
    hex[64] = '\0';
    if (sizeOut)
        *sizeOut = total;
done:
    EVP_MD_CTX_free(sha);
    free(chunk);
    close(fd);
    return result;
}
