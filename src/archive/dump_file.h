/* Dump files: what `neo4j-admin database dump --to-stdout` writes, the
 * archive of the dump method.
 *
 *   dumpWriter*     one pass over the dump as it streams from neo4j-admin:
 *                   the file, its SHA-256, and a decode of the dump's own
 *                   compressed stream (its content size, and proof it is whole)
 *   dumpFileInspect the same facts from a dump file on disk (validation);
 *                   dumpStreamInspect from any byte source
 *
 * Format (Neo4j 5): the 4 bytes "DZV1", then one zstd frame with a content
 * checksum holding a tar of the store files. "DGV1" (and a bare gzip stream,
 * older releases) is the same with gzip. Decoding the whole stream proves the
 * file is not cut short or damaged; the tar inside is Neo4j's business
 * (`neo4j-admin database check` reads it, restore/dump_restore.h). Every
 * byte is untrusted: a damaged stream is BACKUP_CORRUPTED, never a crash.
 *
 * Ownership: a DumpWriter is the caller's until dumpWriterFree. */
#ifndef NBK_ARCHIVE_DUMP_FILE_H
#define NBK_ARCHIVE_DUMP_FILE_H

#include "common/error.h"
#include "storage/storage.h"

#include <stddef.h>
#include <stdint.h>

#define DUMP_FILE_PATH_SIZE 4096

typedef struct {
    uint64_t bytes;         /* the file's size */
    uint64_t contentBytes;  /* decoded size of the compressed stream inside (0 if the format is unknown) */
    char sha256[65];        /* of the whole file, lowercase hex */
    char format[8];         /* "DZV1" (zstd), "DGV1" (gzip), "gzip", or "" when not recognised */
} DumpFileInfo;

typedef struct DumpWriter DumpWriter;

/* Creates path (mode 0600, must not exist). */
ErrCode dumpWriterOpen(DumpWriter **out, const char *path);
/* The same writer into file `name` of storage (a new storageWriteOpen with
 * STORAGE_WRITE_NO_REPLACE): the bytes stream into it (on object storage a
 * multipart upload, no local copy) and nothing is visible until
 * dumpWriterFinish commits it, which it does only when the stream decoded
 * whole; an unfinished writer is aborted by dumpWriterFree. shown names the
 * file in messages. */
ErrCode dumpWriterOpenStorage(DumpWriter **out, Storage *storage, const char *name, const char *shown);
/* Appends bytes: written, hashed and decoded. A ProcSink (payload = writer).
 * A damaged stream is BACKUP_CORRUPTED at once; a full disk BACKUP_NO_SPACE. */
ErrCode dumpWriterAdd(const uint8_t *data, size_t length, void *writer);
/* Closes the file (commits the storage write) and fills out. BACKUP_CORRUPTED
 * when the compressed stream inside is incomplete (a storage write is then
 * discarded, never committed). */
ErrCode dumpWriterFinish(DumpWriter *writer, DumpFileInfo *out);
/* Frees (closing the file if still open); the file itself stays; a storage
 * write not yet committed is aborted (nothing left). NULL ok. */
void dumpWriterFree(DumpWriter *writer);

/* Reads a dump file once: size, SHA-256 and the decode of its stream.
 * BACKUP_CORRUPTED (with the offset) when the stream is damaged or cut. */
ErrCode dumpFileInspect(const char *path, DumpFileInfo *out);

/* dumpFileInspect of file `name` of storage, read as one stream (ranged
 * GETs on object storage); shown names it in messages. A storage failure
 * keeps the storage's code (BACKUP_NOT_FOUND, STORAGE_UNREACHABLE...). */
ErrCode dumpStorageInspect(Storage *storage, const char *name, const char *shown, DumpFileInfo *out);

/* Hands dumpStreamInspect the next bytes of a dump: at most capacity of them
 * into buffer and their count in *got, 0 at the end. An error ends the
 * inspection with that error. */
typedef ErrCode (*DumpReadFn)(void *payload, uint8_t *buffer, size_t capacity, size_t *got);

/* dumpFileInspect of the bytes readMore hands out, in the pieces it chooses
 * (the fuzz target feeds memory): however the bytes are cut, the same
 * verdict, and once they pass the same format and content size. name is
 * what error messages call the dump. */
ErrCode dumpStreamInspect(DumpReadFn readMore, void *payload, const char *name, DumpFileInfo *out);

#endif
