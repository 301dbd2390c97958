/* The dump method's engine (see dump.h): neo4j-admin run through the one
 * child-process runner (common/process.h), dump files, store locks. */
#include "backup/dump.h"

#include "common/fsutil.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define DUMP_IO_CHUNK (256u * 1024u)

static bool dumpIsExecutableFile(const char *path)
{
    struct stat info;
    return stat(path, &info) == 0 && S_ISREG(info.st_mode) && access(path, X_OK) == 0;
}

ErrCode dumpAdminResolve(const char *configuredAdmin, const char *neo4jHome, DumpAdmin *out)
{
    memset(out, 0, sizeof(*out));
    if (neo4jHome && neo4jHome[0])
        snprintf(out->neo4jHome, sizeof(out->neo4jHome), "%s", neo4jHome);
    if (configuredAdmin && configuredAdmin[0]) {
        if (!dumpIsExecutableFile(configuredAdmin)) {
            errSet(NEO4J_ADMIN_FAILED, "NEO4J_ADMIN=%s is not an executable file", configuredAdmin);
            errSetAction("Set NEO4J_ADMIN to the neo4j-admin of the Neo4j installation, or unset it and set "
                         "NEO4J_HOME");
            return NEO4J_ADMIN_FAILED;
        }
        snprintf(out->executable, sizeof(out->executable), "%s", configuredAdmin);
        return ERR_OK;
    }
    if (neo4jHome && neo4jHome[0]) {
        char candidate[DUMP_PATH_SIZE];
        if (fsPathJoin(candidate, sizeof(candidate), neo4jHome, "bin/neo4j-admin") != ERR_OK)
            return errLast()->code;
        if (!fsIsDirectory(neo4jHome) && !dumpIsExecutableFile(candidate)) {
            errSet(NEO4J_ADMIN_FAILED, "NEO4J_HOME=%s is not a directory", neo4jHome);
            errSetAction("Set NEO4J_HOME to the Neo4j installation (the folder holding bin/neo4j-admin and conf/)");
            return NEO4J_ADMIN_FAILED;
        }
        if (!dumpIsExecutableFile(candidate)) {
            errSet(NEO4J_ADMIN_FAILED, "NEO4J_HOME=%s has no executable bin/neo4j-admin", neo4jHome);
            errSetAction("Set NEO4J_HOME to the Neo4j installation (the folder holding bin/neo4j-admin and conf/), "
                         "or NEO4J_ADMIN to the neo4j-admin executable");
            return NEO4J_ADMIN_FAILED;
        }
        snprintf(out->executable, sizeof(out->executable), "%s", candidate);
        return ERR_OK;
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t length = strcspn(path, ":");
        char candidate[DUMP_PATH_SIZE];
        if (length > 0 && length < sizeof(candidate) - 16) {
            snprintf(candidate, sizeof(candidate), "%.*s/neo4j-admin", (int)length, path);
            if (dumpIsExecutableFile(candidate)) {
                snprintf(out->executable, sizeof(out->executable), "%s", candidate);
                return ERR_OK;
            }
        }
        path += length + (path[length] == ':');
    }
    errSet(NEO4J_ADMIN_FAILED, "neo4j-admin was not found: NEO4J_HOME and NEO4J_ADMIN are not set and no "
                               "neo4j-admin is on PATH");
    errSetAction("Set NEO4J_HOME to the Neo4j installation, or NEO4J_ADMIN to its neo4j-admin executable");
    return NEO4J_ADMIN_FAILED;
}

ErrCode dumpAdminRun(const DumpAdmin *admin, const char *const *args, const DumpIo *io, DumpRun *run)
{
    size_t argCount = 0;
    while (args && args[argCount])
        argCount++;
    const char **argv = memCalloc(argCount + 2, sizeof(char *));
    argv[0] = admin->executable;
    for (size_t index = 0; index < argCount; index++)
        argv[index + 1] = args[index];
    /* neo4j-admin finds its configuration and jars through NEO4J_HOME. */
    char homeEntry[DUMP_PATH_SIZE + 16];
    snprintf(homeEntry, sizeof(homeEntry), "NEO4J_HOME=%s", admin->neo4jHome);
    const char *const extraEnv[] = {admin->neo4jHome[0] ? homeEntry : NULL, NULL};
    DumpIo withEnv = io ? *io : (DumpIo){0};
    withEnv.extraEnv = extraEnv;
    ErrCode code = procRun(argv, &withEnv, run);
    logDebug("Ran %s", run->command);
    free(argv);
    if (code != ERR_OK)
        return code;
    if (run->exitStatus != 0)
        return procExitFailure(run);
    return ERR_OK;
}

ErrCode dumpAdminVersion(const DumpAdmin *admin, char *version, size_t size, DumpRun *run)
{
    static const char *const args[] = {"--version", NULL};
    version[0] = '\0';
    DumpIo io = {.timeoutSeconds = 300};
    ErrCode code = dumpAdminRun(admin, args, &io, run);
    if (code != ERR_OK)
        return code;
    /* The version is the last line that starts with a digit (a JVM may warn first). */
    for (unsigned index = 0; index < run->tailCount; index++) {
        const char *line = run->tail[index];
        while (*line == ' ')
            line++;
        if (isdigit((unsigned char)line[0])) {
            snprintf(version, size, "%s", line);
            version[strcspn(version, " \t")] = '\0';
        }
    }
    if (!version[0]) {
        errSet(NEO4J_ADMIN_FAILED, "%s printed no version", run->command);
        errSetDetails("Output: %s", dumpRunLastLine(run));
        return NEO4J_ADMIN_FAILED;
    }
    return ERR_OK;
}

/* One numeric part of a version; moves past it and its dot. Text that is
 * not a number ends the version. */
static long dumpVersionPart(const char **cursor)
{
    long value = 0;
    while (isdigit((unsigned char)**cursor)) {
        if (value < 1000000000L)
            value = value * 10 + (**cursor - '0');
        (*cursor)++;
    }
    if (**cursor == '.' && isdigit((unsigned char)(*cursor)[1]))
        (*cursor)++;
    else
        *cursor = "";
    return value;
}

int dumpVersionCompare(const char *left, const char *right)
{
    const char *leftCursor = left ? left : "";
    const char *rightCursor = right ? right : "";
    while (*leftCursor || *rightCursor) {
        long leftPart = dumpVersionPart(&leftCursor);
        long rightPart = dumpVersionPart(&rightCursor);
        if (leftPart != rightPart)
            return leftPart < rightPart ? -1 : 1;
    }
    return 0;
}

/* ---- dump files -------------------------------------------------------------- */

typedef enum { DUMP_CODEC_UNKNOWN, DUMP_CODEC_PENDING, DUMP_CODEC_ZSTD, DUMP_CODEC_GZIP } DumpCodec;

/* Decodes the dump's compressed stream as it goes by, counting its bytes. */
typedef struct {
    DumpCodec codec;
    uint8_t head[4];
    size_t headLength;
    ZSTD_DStream *zstd;
    bool zstdFrameDone;  /* the last frame ended (ZSTD_decompressStream returned 0) */
    z_stream gzip;
    bool gzipOpen;
    bool gzipDone;
    uint8_t *scratch;
    size_t scratchSize;
    uint64_t consumed;   /* input bytes seen, for error offsets */
    uint64_t produced;
    char format[8];
} DumpDecoder;

static void dumpDecoderInit(DumpDecoder *decoder)
{
    memset(decoder, 0, sizeof(*decoder));
    decoder->codec = DUMP_CODEC_PENDING;
}

static void dumpDecoderFree(DumpDecoder *decoder)
{
    if (decoder->zstd)
        ZSTD_freeDStream(decoder->zstd);
    if (decoder->gzipOpen)
        inflateEnd(&decoder->gzip);
    free(decoder->scratch);
    decoder->zstd = NULL;
    decoder->gzipOpen = false;
    decoder->scratch = NULL;
}

static ErrCode dumpDecodeZstd(DumpDecoder *decoder, const uint8_t *data, size_t length)
{
    ZSTD_inBuffer input = {data, length, 0};
    ZSTD_outBuffer output;
    do {
        output = (ZSTD_outBuffer){decoder->scratch, decoder->scratchSize, 0};
        size_t result = ZSTD_decompressStream(decoder->zstd, &output, &input);
        if (ZSTD_isError(result))
            return errSet(BACKUP_CORRUPTED, "the dump's zstd stream is damaged near byte %llu: %s",
                          (unsigned long long)(decoder->consumed + input.pos), ZSTD_getErrorName(result));
        decoder->produced += output.pos;
        decoder->zstdFrameDone = result == 0;
    } while (input.pos < input.size || output.pos == output.size);
    return ERR_OK;
}

static ErrCode dumpDecodeGzip(DumpDecoder *decoder, const uint8_t *data, size_t length)
{
    z_stream *stream = &decoder->gzip;
    stream->next_in = (Bytef *)data;
    stream->avail_in = (uInt)length;
    while (stream->avail_in > 0) {
        if (decoder->gzipDone) {
            inflateReset(stream); /* another gzip member follows */
            decoder->gzipDone = false;
        }
        stream->next_out = decoder->scratch;
        stream->avail_out = (uInt)decoder->scratchSize;
        int result = inflate(stream, Z_NO_FLUSH);
        decoder->produced += decoder->scratchSize - stream->avail_out;
        if (result == Z_STREAM_END)
            decoder->gzipDone = true;
        else if (result != Z_OK && result != Z_BUF_ERROR)
            return errSet(BACKUP_CORRUPTED, "the dump's gzip stream is damaged near byte %llu: %s",
                          (unsigned long long)(decoder->consumed + length - stream->avail_in),
                          stream->msg ? stream->msg : "inflate error");
    }
    return ERR_OK;
}

static ErrCode dumpDecoderStart(DumpDecoder *decoder)
{
    static const uint8_t gzipMagic[2] = {0x1f, 0x8b};
    if (memcmp(decoder->head, "DZV1", 4) == 0) {
        decoder->codec = DUMP_CODEC_ZSTD;
        snprintf(decoder->format, sizeof(decoder->format), "DZV1");
    } else if (memcmp(decoder->head, "DGV1", 4) == 0) {
        decoder->codec = DUMP_CODEC_GZIP;
        snprintf(decoder->format, sizeof(decoder->format), "DGV1");
    } else if (memcmp(decoder->head, gzipMagic, 2) == 0) {
        decoder->codec = DUMP_CODEC_GZIP;
        snprintf(decoder->format, sizeof(decoder->format), "gzip");
    } else {
        decoder->codec = DUMP_CODEC_UNKNOWN; /* a newer format: the checksum still guards it */
        return ERR_OK;
    }
    decoder->scratchSize = decoder->codec == DUMP_CODEC_ZSTD ? ZSTD_DStreamOutSize() : DUMP_IO_CHUNK;
    decoder->scratch = memAlloc(decoder->scratchSize);
    if (decoder->codec == DUMP_CODEC_ZSTD) {
        decoder->zstd = ZSTD_createDStream();
        if (!decoder->zstd || ZSTD_isError(ZSTD_initDStream(decoder->zstd)))
            return errSet(ERR_INTERNAL, "cannot create a zstd decoder");
        return ERR_OK;
    }
    decoder->gzipOpen = inflateInit2(&decoder->gzip, 16 + MAX_WBITS) == Z_OK;
    if (!decoder->gzipOpen)
        return errSet(ERR_INTERNAL, "cannot create a gzip decoder");
    /* A bare gzip stream starts with its own magic: those bytes are data. */
    return decoder->format[0] == 'g' ? dumpDecodeGzip(decoder, decoder->head, decoder->headLength) : ERR_OK;
}

static ErrCode dumpDecoderAdd(DumpDecoder *decoder, const uint8_t *data, size_t length)
{
    ErrCode code = ERR_OK;
    if (decoder->codec == DUMP_CODEC_PENDING) {
        size_t take = sizeof(decoder->head) - decoder->headLength;
        if (take > length)
            take = length;
        memcpy(decoder->head + decoder->headLength, data, take);
        decoder->headLength += take;
        decoder->consumed += take;
        data += take;
        length -= take;
        if (decoder->headLength < sizeof(decoder->head))
            return ERR_OK;
        code = dumpDecoderStart(decoder);
    }
    if (code == ERR_OK && length > 0) {
        if (decoder->codec == DUMP_CODEC_ZSTD)
            code = dumpDecodeZstd(decoder, data, length);
        else if (decoder->codec == DUMP_CODEC_GZIP)
            code = dumpDecodeGzip(decoder, data, length);
    }
    decoder->consumed += length;
    return code;
}

static ErrCode dumpDecoderEnd(DumpDecoder *decoder, const char *path)
{
    if (decoder->codec == DUMP_CODEC_PENDING)
        return errSet(BACKUP_CORRUPTED, "the dump %s is only %zu bytes long", path, decoder->headLength);
    if (decoder->codec == DUMP_CODEC_ZSTD && !decoder->zstdFrameDone)
        return errSet(BACKUP_CORRUPTED, "the dump %s ends in the middle of its zstd stream (cut short)", path);
    if (decoder->codec == DUMP_CODEC_GZIP && !decoder->gzipDone)
        return errSet(BACKUP_CORRUPTED, "the dump %s ends in the middle of its gzip stream (cut short)", path);
    return ERR_OK;
}

static void dumpHex(const unsigned char *digest, unsigned length, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned index = 0; index < length; index++) {
        hex[index * 2] = digits[digest[index] >> 4];
        hex[index * 2 + 1] = digits[digest[index] & 15];
    }
    hex[length * 2] = '\0';
}

struct DumpWriter {
    char path[DUMP_PATH_SIZE];
    int fd;
    EVP_MD_CTX *sha;
    DumpDecoder decoder;
    uint64_t bytes;
};

ErrCode dumpWriterOpen(DumpWriter **out, const char *path)
{
    *out = NULL;
    DumpWriter *writer = memCalloc(1, sizeof(*writer));
    snprintf(writer->path, sizeof(writer->path), "%s", path);
    dumpDecoderInit(&writer->decoder);
    writer->sha = EVP_MD_CTX_new();
    if (!writer->sha || EVP_DigestInit_ex(writer->sha, EVP_sha256(), NULL) != 1) {
        dumpWriterFree(writer);
        return errSet(ERR_INTERNAL, "cannot initialise SHA-256");
    }
    writer->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (writer->fd < 0) {
        ErrCode code = fsErrorFromErrno(errno, "cannot create", path);
        dumpWriterFree(writer);
        return code;
    }
    *out = writer;
    return ERR_OK;
}

ErrCode dumpWriterAdd(const uint8_t *data, size_t length, void *payload)
{
    DumpWriter *writer = payload;
    size_t done = 0;
    while (done < length) {
        ssize_t wrote = write(writer->fd, data + done, length - done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0)
            return fsErrorFromErrno(wrote < 0 ? errno : ENOSPC, "cannot write", writer->path);
        done += (size_t)wrote;
    }
    writer->bytes += length;
    EVP_DigestUpdate(writer->sha, data, length);
    return dumpDecoderAdd(&writer->decoder, data, length);
}

ErrCode dumpWriterFinish(DumpWriter *writer, DumpFileInfo *out)
{
    memset(out, 0, sizeof(*out));
    int fd = writer->fd;
    writer->fd = -1;
    if (fsync(fd) != 0 || close(fd) != 0)
        return fsErrorFromErrno(errno, "cannot write", writer->path);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digestLength = 0;
    EVP_DigestFinal_ex(writer->sha, digest, &digestLength);
    dumpHex(digest, digestLength, out->sha256);
    out->bytes = writer->bytes;
    ErrCode code = dumpDecoderEnd(&writer->decoder, writer->path);
    out->contentBytes = writer->decoder.produced;
    snprintf(out->format, sizeof(out->format), "%s", writer->decoder.format);
    return code;
}

void dumpWriterFree(DumpWriter *writer)
{
    if (!writer)
        return;
    if (writer->fd >= 0)
        close(writer->fd);
    EVP_MD_CTX_free(writer->sha);
    dumpDecoderFree(&writer->decoder);
    free(writer);
}

ErrCode dumpFileInspect(const char *path, DumpFileInfo *out)
{
    memset(out, 0, sizeof(*out));
    int fd = -1;
    ErrCode opened = fsOpenRegular(path, &fd, NULL); /* no FIFO, no link */
    if (opened != ERR_OK)
        return opened;
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    uint8_t *buffer = memAlloc(DUMP_IO_CHUNK);
    DumpDecoder decoder;
    dumpDecoderInit(&decoder);
    ErrCode code = sha && EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1
                       ? ERR_OK
                       : errSet(ERR_INTERNAL, "cannot set up SHA-256 for the dump");
    ErrCode streamCode = ERR_OK; /* a damaged stream: keep hashing, report after */
    while (code == ERR_OK) {
        ssize_t got = read(fd, buffer, DUMP_IO_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            code = fsErrorFromErrno(errno, "cannot read", path);
            break;
        }
        if (got == 0)
            break;
        out->bytes += (uint64_t)got;
        EVP_DigestUpdate(sha, buffer, (size_t)got);
        if (streamCode == ERR_OK)
            streamCode = dumpDecoderAdd(&decoder, buffer, (size_t)got);
    }
    close(fd);
    if (code == ERR_OK) {
        ErrDetail streamFailure = errSave();
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned digestLength = 0;
        EVP_DigestFinal_ex(sha, digest, &digestLength);
        dumpHex(digest, digestLength, out->sha256);
        out->contentBytes = decoder.produced;
        snprintf(out->format, sizeof(out->format), "%s", decoder.format);
        if (streamCode != ERR_OK) {
            errRestore(&streamFailure);
            code = streamCode;
        } else {
            code = dumpDecoderEnd(&decoder, path);
        }
    }
    dumpDecoderFree(&decoder);
    EVP_MD_CTX_free(sha);
    free(buffer);
    return code;
}

/* ---- the store on disk ---------------------------------------------------------- */

/* Value of server.directories.data in a neo4j.conf, if set (last one wins). */
static bool dumpConfDataDirectory(const char *confPath, char *out, size_t size)
{
    FILE *file = fopen(confPath, "re");
    if (!file)
        return false;
    bool found = false;
    char line[DUMP_PATH_SIZE + 64];
    while (fgets(line, sizeof(line), file)) {
        char *cursor = line;
        while (*cursor == ' ' || *cursor == '\t')
            cursor++;
        static const char key[] = "server.directories.data";
        if (strncmp(cursor, key, sizeof(key) - 1) != 0)
            continue;
        cursor += sizeof(key) - 1;
        while (*cursor == ' ' || *cursor == '\t')
            cursor++;
        if (*cursor != '=')
            continue;
        cursor++;
        while (*cursor == ' ' || *cursor == '\t')
            cursor++;
        size_t length = strcspn(cursor, "\r\n");
        while (length > 0 && (cursor[length - 1] == ' ' || cursor[length - 1] == '\t'))
            length--;
        if (length > 0 && length < size) {
            snprintf(out, size, "%.*s", (int)length, cursor);
            found = true;
        }
    }
    fclose(file);
    return found;
}

ErrCode dumpDatabaseDirectory(const char *neo4jHome, const char *database, char *out, size_t size)
{
    char confPath[DUMP_PATH_SIZE];
    char dataDir[DUMP_PATH_SIZE] = "data";
    ErrCode code = fsPathJoin(confPath, sizeof(confPath), neo4jHome, "conf/neo4j.conf");
    if (code != ERR_OK)
        return code;
    dumpConfDataDirectory(confPath, dataDir, sizeof(dataDir));
    char dataPath[DUMP_PATH_SIZE];
    if (dataDir[0] == '/')
        snprintf(dataPath, sizeof(dataPath), "%s", dataDir);
    else if ((code = fsPathJoin(dataPath, sizeof(dataPath), neo4jHome, dataDir)) != ERR_OK)
        return code;
    char databases[DUMP_PATH_SIZE];
    code = fsPathJoin(databases, sizeof(databases), dataPath, "databases");
    if (code == ERR_OK)
        code = fsPathJoin(out, size, databases, database);
    return code;
}

/* The holder of a POSIX lock on path: true and *pid when some other process has one. */
static bool dumpFileLockHolder(const char *path, long *pid)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    bool held = fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
    if (held)
        *pid = probe.l_pid > 0 ? (long)probe.l_pid : -1;
    close(fd); /* we held no lock on it, so closing releases nothing of anyone's */
    return held;
}

bool dumpStoreLockHeld(const char *databaseDir, long *pid, char *lockPath, size_t lockPathSize)
{
    char candidates[2][DUMP_PATH_SIZE];
    if (fsPathJoin(candidates[0], sizeof(candidates[0]), databaseDir, "database_lock") != ERR_OK ||
        fsPathJoin(candidates[1], sizeof(candidates[1]), databaseDir, "../store_lock") != ERR_OK)
        return false;
    for (size_t index = 0; index < 2; index++) {
        if (dumpFileLockHolder(candidates[index], pid)) {
            snprintf(lockPath, lockPathSize, "%s", candidates[index]);
            return true;
        }
    }
    *pid = 0;
    if (lockPathSize)
        lockPath[0] = '\0';
    return false;
}
