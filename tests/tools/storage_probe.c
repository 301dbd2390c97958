/* storage_probe: drives a storage driver from the command line, for the
 * end-to-end tests of the posix and S3 drivers (tests/e2e/test_storage_s3.py).
 *
 *   storage_probe LOCATION COMMAND [ARGS]
 *     put NAME [--no-replace]  stdin -> one atomic stream write; prints
 *                              "bytes N" and "sha256 HEX"
 *     put-abort NAME           stdin -> a stream write that is then aborted
 *     get NAME [OFFSET LENGTH] the file (or a range of it) to stdout
 *     list [DIR]               "name<TAB>size<TAB>mtime" per file
 *     stat NAME                "size N" and "mtime T"
 *     rm NAME | rmdir DIR
 *     lock NAME TTL            takes the lock, prints "locked", holds it until
 *                              stdin closes (a line "refresh" refreshes it),
 *                              then releases it
 *     abort-uploads [DIR]      aborts leftover multipart uploads (S3 only)
 *     space                    "applicable 0|1" and the byte counts
 *   LOCATION is a directory or s3://bucket/prefix. S3 settings come from the
 *   AWS_* variables (s3ConfigFromLookup) and, for tests, NBK_S3_URI_STYLE
 *   (path|host), NBK_S3_PART_SIZE, NBK_S3_PARTS_IN_FLIGHT, NBK_S3_ATTEMPTS,
 *   NBK_S3_RETRY_BASE_MS, NBK_S3_CONNECT_TIMEOUT_MS.
 * Failure: "ERROR: <CODE>: <reason>" on stderr and the code's exit status. */
#include "common/error.h"
#include "common/log.h"
#include "storage/posix.h"
#include "storage/s3.h"
#include "probe_storage.h"

#include <openssl/evp.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static ErrCode put(Storage *storage, const char *name, unsigned flags, bool abortAtEnd)
{
    StorageWrite *writer = NULL;
    ErrCode result = storageWriteOpen(storage, name, flags, &writer);
    if (result != ERR_OK)
        return result;
    EVP_MD_CTX *digest = EVP_MD_CTX_new();
    EVP_DigestInit_ex(digest, EVP_sha256(), NULL);
    static unsigned char chunk[1 << 16];
    uint64_t total = 0;
    size_t got;
    while (result == ERR_OK && (got = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        EVP_DigestUpdate(digest, chunk, got);
        total += got;
        result = storageWrite(writer, chunk, got);
    }
    if (result != ERR_OK || abortAtEnd) {
        storageWriteAbort(writer);
    } else {
        result = storageWriteCommit(writer);
    }
    unsigned char hash[32];
    unsigned int hashLength = 0;
    EVP_DigestFinal_ex(digest, hash, &hashLength);
    EVP_MD_CTX_free(digest);
    if (result == ERR_OK) {
        printf("bytes %" PRIu64 "\nsha256 ", total);
        for (unsigned index = 0; index < hashLength; index++)
            printf("%02x", hash[index]);
        printf("\n");
    }
    return result;
}

static ErrCode get(Storage *storage, const char *name, uint64_t offset, uint64_t length)
{
    StorageRead *reader = NULL;
    ErrCode result = storageReadOpen(storage, name, offset, length, &reader);
    static unsigned char chunk[1 << 16];
    size_t got = 0;
    while (result == ERR_OK && (result = storageRead(reader, chunk, sizeof(chunk), &got)) == ERR_OK && got > 0)
        fwrite(chunk, 1, got, stdout);
    storageReadClose(reader);
    return result;
}

static ErrCode printEntry(const StorageInfo *info, void *payload)
{
    (void)payload;
    printf("%s\t%" PRIu64 "\t%" PRId64 "\n", info->name, info->size, info->mtime);
    return ERR_OK;
}

static ErrCode holdLock(Storage *storage, const char *name, int ttl)
{
    StorageLock *lock = NULL;
    StorageLockOwner owner = {.owner = "storage_probe lock"};
    ErrCode result = storageLockAcquire(storage, name, &owner, ttl, &lock);
    if (result != ERR_OK)
        return result;
    printf("locked\n");
    fflush(stdout);
    char line[64];
    while (result == ERR_OK && fgets(line, sizeof(line), stdin))
        if (strncmp(line, "refresh", 7) == 0 && (result = storageLockRefresh(lock)) == ERR_OK) {
            printf("refreshed\n");
            fflush(stdout);
        } else if (strncmp(line, "status", 6) == 0) {
            printf("lost %d\n", storageLockLost(lock) ? 1 : 0);
            fflush(stdout);
        }
    storageLockRelease(lock);
    return result;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: storage_probe LOCATION COMMAND [ARGS] (see the source)\n");
        return 2;
    }
    logSetAllToStderr(true);
    if (getenv("NBK_PROBE_VERBOSE"))
        logSetVerbose(true);
    Storage *storage = NULL;
    ErrCode result = openStorage(argv[1], &storage);
    if (result != ERR_OK)
        return fail(result);
    const char *command = argv[2];
    const char *name = argc > 3 ? argv[3] : "";
    if (strcmp(command, "put") == 0 && argc >= 4)
        result = put(storage, name, argc > 4 && strcmp(argv[4], "--no-replace") == 0 ? STORAGE_WRITE_NO_REPLACE : 0,
                     false);
    else if (strcmp(command, "put-abort") == 0 && argc >= 4)
        result = put(storage, name, 0, true);
    else if (strcmp(command, "get") == 0 && argc >= 4)
        result = get(storage, name, argc > 5 ? strtoull(argv[4], NULL, 10) : 0,
                     argc > 5 ? strtoull(argv[5], NULL, 10) : STORAGE_READ_ALL);
    else if (strcmp(command, "list") == 0)
        result = storageList(storage, name, printEntry, NULL);
    else if (strcmp(command, "stat") == 0 && argc >= 4) {
        StorageInfo info;
        if ((result = storageStat(storage, name, &info)) == ERR_OK)
            printf("size %" PRIu64 "\nmtime %" PRId64 "\n", info.size, info.mtime);
    } else if (strcmp(command, "info") == 0 && argc >= 4) {
        StorageInfo info;
        static const char *const kinds[] = {"file", "dir", "link", "other"};
        if ((result = storageInfo(storage, name, &info)) == ERR_OK)
            printf("kind %s\nsize %" PRIu64 "\n", kinds[info.kind], info.size);
    } else if (strcmp(command, "held") == 0 && argc >= 4) {
        printf("held %d\n", storageLockHeld(storage, name) ? 1 : 0);
    } else if (strcmp(command, "rm") == 0 && argc >= 4)
        result = storageRemove(storage, name);
    else if (strcmp(command, "rmdir") == 0 && argc >= 4)
        result = storageRemoveDir(storage, name);
    else if (strcmp(command, "lock") == 0 && argc >= 5)
        result = holdLock(storage, name, atoi(argv[4]));
    else if (strcmp(command, "abort-uploads") == 0) {
        unsigned aborted = 0;
        if ((result = storageS3AbortUploads(storage, name, INT64_MAX, &aborted)) == ERR_OK)
            printf("aborted %u\n", aborted);
    } else if (strcmp(command, "space") == 0) {
        StorageSpace space;
        if ((result = storageSpace(storage, &space)) == ERR_OK)
            printf("applicable %d\navailable %" PRIu64 "\ntotal %" PRIu64 "\n", space.applicable ? 1 : 0,
                   space.availableBytes, space.totalBytes);
    } else {
        fprintf(stderr, "storage_probe: unknown command or missing argument: %s\n", command);
        storageFree(storage);
        return 2;
    }
    storageFree(storage);
    fflush(stdout);
    return result == ERR_OK ? 0 : fail(result);
}
