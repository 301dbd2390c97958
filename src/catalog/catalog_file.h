/* Repository files as the catalog's own modules (catalog.c, manifest.c,
 * validate.c) reach them through a Storage: storage names of files inside a
 * backup directory, the text that names them in messages (the path on a
 * posix storage, so that every message reads as it did when the catalog
 * opened files itself), and reads that refuse links and special files with
 * the repository's usual wording ("refusing to open X: it is a symbolic
 * link", "refusing to read X: not a regular file", "cannot open X: no such
 * file"). Internal to src/catalog/. */
#ifndef NBK_CATALOG_CATALOG_FILE_H
#define NBK_CATALOG_CATALOG_FILE_H

#include "common/buffer.h"
#include "common/error.h"
#include "storage/storage.h"

#include <stddef.h>
#include <stdint.h>

/* Storage name dir + "/" + name; dir "" gives name. BACKUP_IO_FAILED "name
 * too long" when it does not fit (out is then empty). */
ErrCode catFileJoin(char *out, size_t outSize, const char *dir, const char *name);
/* How messages name `name` ("" = the root): root/name on posix, else the
 * name itself. Never fails (truncates). Returns out. */
const char *catFileShow(Storage *storage, const char *name, char *out, size_t outSize);

/* Opens a regular file for reading; a link, directory or special file is
 * refused (BACKUP_IO_FAILED), a missing one is BACKUP_NOT_FOUND "cannot open
 * X: no such file". */
ErrCode catFileReadOpen(Storage *storage, const char *name, StorageRead **out);
/* Reads a whole regular file (catFileReadOpen) into out (cleared first);
 * more than maxBytes is BACKUP_IO_FAILED "cannot read X: larger than N bytes". */
ErrCode catFileReadAll(Storage *storage, const char *name, size_t maxBytes, Buffer *out);
/* SHA-256 (64 hex digits) of a regular file, the bytes read and the file's
 * modification time (taken from the open file; mtime may be NULL). */
ErrCode catFileSha256(Storage *storage, const char *name, char hex[65], uint64_t *size, int64_t *mtime);

#endif
