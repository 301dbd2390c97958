/* The backup archive: one file holding a logical backup's header, schema,
 * node and relationship records and a footer, in checksummed blocks,
 * compressed so that standard tools (zstd -d, gunzip) can read the outer
 * layer. The byte format is specified in docs/archive-format.md.
 *
 * Records are opaque PackStream-encoded byte strings here: the backup engine
 * encodes them, the restore engine decodes them. The archive adds framing,
 * block checksums (CRC-32C), compression, counts and a content digest, and
 * computes the SHA-256 of the file as it is written (one streaming pass). */
#ifndef NBK_ARCHIVE_ARCHIVE_H
#define NBK_ARCHIVE_ARCHIVE_H

#include "common/error.h"
#include "storage/storage.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most arena memory one record (or the header) may take once decoded,
 * checked while decoding (packReaderLimitDecoded): the largest encoded
 * record plus a quarter for value headers. A record of strings or byte
 * arrays of any size a section can hold fits; so does a list of up to about
 * 13 million small numbers (24 bytes each decoded). A record past it is
 * BACKUP_CORRUPTED (docs/archive-format.md, "Decoded size"). */
#define ARC_RECORD_DECODED_MAX (320u * 1024u * 1024u)

typedef enum {
    ARC_COMPRESSION_NONE,
    ARC_COMPRESSION_GZIP,
    ARC_COMPRESSION_ZSTD,
} ArcCompression;

const char *arcCompressionName(ArcCompression compression); /* "none", "gzip", "zstd" */
/* Parses "none" | "gzip" | "zstd"; CONFIG_INVALID otherwise. */
ErrCode arcCompressionParse(const char *name, ArcCompression *out);
/* File name of the archive inside a backup directory: "graph.nbk", "graph.nbk.gz",
 * "graph.nbk.zst". */
const char *arcFileName(ArcCompression compression);

typedef enum {
    ARC_RECORD_SCHEMA = 'S',       /* one schema item (constraint or index) */
    ARC_RECORD_NODE = 'N',         /* one node */
    ARC_RECORD_RELATIONSHIP = 'R', /* one relationship */
    /* A differential's deletion: PackStream [entity: "N" | "R", key: Integer]
     * (docs/archive-format.md section 10). Not counted in the footer, whose
     * layout predates it; the content digest covers it like any record. */
    ARC_RECORD_DELETION = 'D',
} ArcRecordKind;

/* Totals kept by the writer and checked by the reader against the footer. */
typedef struct {
    uint64_t schemaCount;
    uint64_t nodeCount;
    uint64_t relationshipCount;
    uint64_t deletionCount;       /* 'D' records (differentials only; not in the footer) */
    uint64_t uncompressedBytes;   /* bytes of the inner stream (format 2: of the same
                                   * sections unencrypted and uncompressed) */
    uint64_t compressedBytes;     /* bytes of the file */
    uint8_t contentDigest[32];    /* SHA-256 over kind byte + u32 BE length + record bytes
                                   * of every record, in order (docs/archive-format.md) */
    uint8_t fileSha256[32];       /* SHA-256 of the whole file as written (reader: as read) */
} ArcTotals;

/* Bytes of a backup's data key (CRYPTO_KEY_BYTES): the key of an encrypted
 * archive (format 2, docs/archive-format.md section 9). The archive only
 * uses it; making, wrapping and storing it belong to src/crypto and the
 * catalog. */
#define ARC_DATA_KEY_BYTES 32

/* How to write an archive. A zeroed struct is format 1, no compression
 * (ARC_COMPRESSION_NONE is 0), 1 MiB blocks. */
typedef struct {
    ArcCompression compression;
    int level;        /* 0 = the compression's default */
    size_t blockSize; /* uncompressed bytes per block, 0 = 1 MiB */
    /* NULL: format 1, readable by anyone. ARC_DATA_KEY_BYTES bytes: format 2,
     * every section but the key section compressed, then encrypted with this
     * key, so nothing of the graph (the header map included) is in clear. */
    const uint8_t *dataKey;
} ArcWriterOptions;

typedef struct ArcWriter ArcWriter;

/* Creates path (O_EXCL, mode 0600) and writes the header; headerPacked is a
 * PackStream map (source, versions, database, backup id...) kept verbatim.
 * blockSize: uncompressed bytes per block, 0 = 1 MiB. level: 0 = default.
 * Writes format 1; arcWriterOpenWith takes a data key for format 2. */
ErrCode arcWriterOpen(ArcWriter **out, const char *path, ArcCompression compression, int level,
                      size_t blockSize, const uint8_t *headerPacked, size_t headerLength);
/* arcWriterOpen / arcWriterOpenFd with every option, the data key included. */
ErrCode arcWriterOpenWith(ArcWriter **out, const char *path, const ArcWriterOptions *options,
                          const uint8_t *headerPacked, size_t headerLength);
ErrCode arcWriterOpenFdWith(ArcWriter **out, int fd, const char *displayName, const ArcWriterOptions *options,
                            const uint8_t *headerPacked, size_t headerLength);
/* Streams the archive into destination (storageWriteOpen), which the writer
 * owns from the call on, even when the open fails: arcWriterFinish commits
 * it (nothing is visible under its name before), arcWriterFree of an
 * unfinished writer aborts it (nothing is left). A storage failure keeps the
 * storage's code and detail (BACKUP_NO_SPACE, STORAGE_UNREACHABLE, ...).
 * displayName names the archive in messages; options NULL = a zeroed struct. */
ErrCode arcWriterOpenStorage(ArcWriter **out, StorageWrite *destination, const char *displayName,
                             const ArcWriterOptions *options, const uint8_t *headerPacked, size_t headerLength);
/* Appends one record; records of a block flush when the block is full. */
ErrCode arcWriterAdd(ArcWriter *writer, ArcRecordKind kind, const uint8_t *packed, size_t length);
/* arcWriterAdd without its decoded-size check (ARC_RECORD_DECODED_MAX): for
 * tests that forge the hostile archives a repository may hold, which the
 * readers must refuse. Production code calls arcWriterAdd. */
ErrCode arcWriterAddUnchecked(ArcWriter *writer, ArcRecordKind kind, const uint8_t *packed, size_t length);
/* Writes the last block and the footer, fsyncs the file (or commits the
 * storage write), fills totals. */
ErrCode arcWriterFinish(ArcWriter *writer, ArcTotals *totals);
/* Frees the writer; if not finished, the partial file is removed (the
 * storage write aborted). Leaves errLast() untouched. */
void arcWriterFree(ArcWriter *writer);
/* Bytes written to the file so far (for progress and space checks). */
uint64_t arcWriterBytesWritten(const ArcWriter *writer);
/* Like arcWriterOpen, but writes to a descriptor opened by the caller (a pipe,
 * or /dev/full in tests). The writer owns fd from the call on, even when the
 * open fails, and closes it; it never unlinks anything. displayName names the
 * destination in messages. Only a regular file is fsynced. */
ErrCode arcWriterOpenFd(ArcWriter **out, int fd, const char *displayName, ArcCompression compression,
                        int level, size_t blockSize, const uint8_t *headerPacked,
                        size_t headerLength);

typedef struct ArcReader ArcReader;

/* Opens an archive; the compression is detected from the file's magic bytes.
 * Reads and checks everything up to the header. A missing file gives
 * BACKUP_NOT_FOUND, an unreadable one BACKUP_IO_FAILED, a damaged one
 * BACKUP_CORRUPTED. */
ErrCode arcReaderOpen(ArcReader **out, const char *path);
/* Like arcReaderOpen, on a descriptor the reader owns from the call on (closed
 * by arcReaderFree, or at once when the open fails); displayName names it in
 * messages. */
ErrCode arcReaderOpenFd(ArcReader **out, int fd, const char *displayName);
/* arcReaderOpen / arcReaderOpenFd with the data key of an encrypted archive
 * (ARC_DATA_KEY_BYTES bytes, or NULL). A format-2 archive without a key is
 * BACKUP_KEY_REQUIRED, with another key BACKUP_KEY_INVALID (the key check of
 * its key section), both before any encrypted byte is used. A format-1
 * archive reads as always, whether a key is given or not. */
ErrCode arcReaderOpenWith(ArcReader **out, const char *path, const uint8_t *dataKey);
ErrCode arcReaderOpenFdWith(ArcReader **out, int fd, const char *displayName, const uint8_t *dataKey);
/* arcReaderOpenFdWith on a storage read (storageReadOpen of the whole
 * file), which the reader owns from the call on (closed by arcReaderFree,
 * or at once when the open fails). Damage is reported exactly as on a
 * descriptor; a storage failure keeps the storage's code and detail. */
ErrCode arcReaderOpenStorage(ArcReader **out, StorageRead *source, const char *displayName, const uint8_t *dataKey);
/* Without the key (--validate of an encrypted backup): a format-2 archive
 * is read to its end checking only what needs no key: the preamble and key
 * section, every section's length and CRC-32C, the order of section kinds,
 * nothing after the footer, and the file's SHA-256 (arcReaderExpectSha256).
 * arcReaderNext hands out no record and ends with *packed == NULL; the
 * header is empty and the totals hold only the block count and file sizes
 * and SHA-256: the content (tags, records, counts, digest) is NOT checked.
 * A format-1 archive is read and checked in full, as by arcReaderOpenFd. */
ErrCode arcReaderOpenFramingOnly(ArcReader **out, int fd, const char *displayName);
/* The same on a storage read, which the reader owns from the call on. */
ErrCode arcReaderOpenStorageFramingOnly(ArcReader **out, StorageRead *source, const char *displayName);
/* True for a format-2 (encrypted) archive. */
bool arcReaderEncrypted(const ArcReader *reader);
/* The header map as written (valid while the reader lives). */
const uint8_t *arcReaderHeader(const ArcReader *reader, size_t *length);
ArcCompression arcReaderCompression(const ArcReader *reader);
/* Next record: kind and bytes (valid until the next call); returns ERR_OK with
 * *packed == NULL at the end, after the footer was verified against the
 * counts and the digest. Corruption gives BACKUP_CORRUPTED with errLast()
 * naming the block and its offset. */
ErrCode arcReaderNext(ArcReader *reader, ArcRecordKind *kind, const uint8_t **packed, size_t *length);
/* Makes the end of the archive also check the SHA-256 of the whole file
 * (as read, in the same pass) against hex, the 64 hex digits from the
 * manifest: a mismatch is BACKUP_CORRUPTED. This also covers the few outer
 * bytes no frame checksum protects (gzip MTIME/XFL/OS). Call before the
 * end is reached. A malformed hex gives BACKUP_CORRUPTED. */
ErrCode arcReaderExpectSha256(ArcReader *reader, const char *hex);
/* Totals read so far (complete after the end was reached). */
const ArcTotals *arcReaderTotals(const ArcReader *reader);
void arcReaderFree(ArcReader *reader); /* NULL is ignored; leaves errLast() untouched */

/* Opens an archive file for reading: a regular file only, never through a
 * link, never blocking on a FIFO; BACKUP_NOT_FOUND names a missing one. */
ErrCode arcOpenFile(const char *path, int *fd);
/* SHA-256 of a whole file, streamed; hex is 65 bytes; sizeOut may be NULL. */
ErrCode arcSha256File(const char *path, char hex[65], uint64_t *sizeOut);
/* The same for file `name` of storage, read as one stream; a storage
 * failure keeps the storage's code and detail (BACKUP_NOT_FOUND, ...). */
ErrCode arcSha256Storage(Storage *storage, const char *name, char hex[65], uint64_t *sizeOut);

/* Where an archive is: file `name` of `storage` (the repository's Storage,
 * names relative to its root), or, with storage NULL, the file at `path`.
 * Messages name it by `path` when there is one (a posix repository's file:
 * they read as they did when everything took paths), else by `name`. */
typedef struct {
    Storage *storage;
    const char *name;
    const char *path;
    /* The backup's data key (ARC_DATA_KEY_BYTES) when it is encrypted, NULL
     * otherwise: arcWriterOpenAt and arcReaderOpenAt use it when they are
     * given none, so the key travels wherever the archive's location does. */
    const uint8_t *dataKey;
} ArcLocation;

const char *arcLocationShown(const ArcLocation *location);
/* arcWriterOpenWith on the path, or arcWriterOpenStorage on a new
 * storageWriteOpen(name, STORAGE_WRITE_NO_REPLACE): either way nothing is
 * visible until arcWriterFinish and nothing is left by an unfinished writer. */
ErrCode arcWriterOpenAt(ArcWriter **out, const ArcLocation *location, const ArcWriterOptions *options,
                        const uint8_t *headerPacked, size_t headerLength);
/* arcReaderOpenWith on the path or arcReaderOpenStorage on the name; a
 * missing file is BACKUP_NOT_FOUND "archive file missing: <shown>" both ways. */
ErrCode arcReaderOpenAt(ArcReader **out, const ArcLocation *location, const uint8_t *dataKey);
/* The key section's payload of a format-2 archive (docs/archive-format.md
 * section 9): its bytes are authenticated by the manifest's MAC. Reads only
 * the first bytes of the file; BACKUP_CORRUPTED when the file does not start
 * with a format-2 preamble and a key section of the right length. */
#define ARC_KEY_SECTION_BYTES 42
ErrCode arcKeySectionAt(const ArcLocation *location, uint8_t out[ARC_KEY_SECTION_BYTES]);
/* arcReaderOpenFramingOnly where the archive is (a path or a storage name). */
ErrCode arcReaderOpenFramingOnlyAt(ArcReader **out, const ArcLocation *location);
/* arcSha256File or arcSha256Storage, a missing file reported as above. */
ErrCode arcSha256At(const ArcLocation *location, char hex[65], uint64_t *sizeOut);

#endif
