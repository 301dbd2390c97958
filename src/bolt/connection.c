/* Bolt connection: handshake, authentication, request pipelining and result
 * streaming on top of transport.c (bytes), chunk.c (framing), message.c
 * (requests) and packstream.c (values).
 *
 * Every request sent is remembered in a small queue; every summary read
 * (SUCCESS, IGNORED, FAILURE) answers the oldest one. That one rule makes
 * pipelining (HELLO+LOGON, RUN+PULL) and FAILURE recovery (RESET, then one
 * IGNORED per request still queued, then RESET's SUCCESS) straightforward.
 *
 * DateTime on Bolt 4.4: the client asks for the "utc" patch and refuses to
 * continue if the server does not accept it. Converting the legacy 'f' form
 * (local wall-clock seconds plus a zone name) to an instant needs the time
 * zone database and is ambiguous in DST overlaps, so a silent conversion
 * could corrupt a backup; every server in scope (Neo4j 5.x, 202x) accepts the
 * patch, so values are always in the 'I'/'i' form value.h promises. */
#include "bolt/connection.h"

#include "bolt/chunk.h"
#include "bolt/message.h"
#include "bolt/packstream.h"
#include "bolt/transport.h"
#include "common/buffer.h"
#include "common/log.h"
#include "common/mem.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#define CONN_READ_BLOCK (64 * 1024)
#define CONN_DEFAULT_FETCH_SIZE 1000
#define CONN_MAX_PENDING 16
#define CONN_HANDSHAKE_MAGIC 0x6060B017u

/* Versions this client speaks, newest first; each row is one handshake
 * proposal covering minorHigh down to minorLow. Offered in this order, so the
 * server picks the newest it shares with us. 5.5 was never served by Neo4j. */
typedef struct {
    uint8_t major;
    uint8_t minorHigh;
    uint8_t minorLow;
} ConnVersionRange;

static const ConnVersionRange connSupportedVersions[] = {
    {6, 0, 0},
    {5, 8, 0},
    {4, 4, 4},
};

struct BoltConnection {
    BoltTransport *transport;
    BoltUri uri;
    bool hasUri;
    char routingAddress[300]; /* routing context "host:port"; "" = direct */
    uint8_t major, minor;
    bool defunct;
    char serverAgent[128];
    char connectionId[64];

    /* Output: requests are encoded into message, framed into outgoing, and
     * written together on flush, so pipelined requests leave in one write. */
    Buffer message;
    Buffer outgoing;
    uint8_t pending[CONN_MAX_PENDING]; /* signatures awaiting a summary, oldest first */
    unsigned pendingHead, pendingCount;

    /* Input: raw socket bytes, then the message being reassembled. */
    uint8_t *readBlock;
    size_t readOffset, readLength;
    BoltChunkReader reader;
    const char *phase; /* what we are doing, for end-of-stream messages */

    /* Values: scratch for one-off replies; result for field names; summary for
     * the last final SUCCESS; record for the current record only. */
    Arena *scratchArena;
    Arena *resultArena;
    Arena *summaryArena;
    Arena *recordArena;

    bool inTransaction;
    bool resultOpen;
    bool streamRequestPending; /* a PULL or DISCARD of the open result awaits its summary */
    int64_t fetchSize;
    const char **fieldNames;
    uint32_t fieldCount;
    BoltValue summary;
    bool summaryValid;
    BoltValue currentRecord;
};

/* ---- small helpers --------------------------------------------------- */

static bool connAtLeast(const BoltConnection *connection, uint8_t major, uint8_t minor)
{
    return connection->major > major || (connection->major == major && connection->minor >= minor);
}

static ErrCode connDefunct(BoltConnection *connection, ErrCode code)
{
    connection->defunct = true;
    connection->resultOpen = false;
    connection->inTransaction = false;
    return code;
}

static ErrCode connCheckUsable(const BoltConnection *connection)
{
    if (!connection)
        return errSet(ERR_INTERNAL, "no Bolt connection");
    if (connection->defunct)
        return errSet(NEO4J_UNREACHABLE,
                      "the connection to Neo4j is no longer usable after an earlier error");
    return ERR_OK;
}

/* Wipes buffers that held credentials, over their whole capacity. */
static void connWipe(Buffer *buffer)
{
    if (buffer->data)
        explicit_bzero(buffer->data, buffer->capacity);
    bufferClear(buffer);
}

/* ---- output ---------------------------------------------------------- */

/* Frames the encoded request in connection->message and remembers that a
 * summary is due for it (GOODBYE gets none). */
static void connQueue(BoltConnection *connection, uint8_t signature)
{
    boltChunkWrite(&connection->outgoing, connection->message.data, connection->message.length,
                   BOLT_CHUNK_WRITE_SIZE);
    bufferClear(&connection->message);
    if (signature == BOLT_MSG_GOODBYE)
        return;
    if (connection->pendingCount == CONN_MAX_PENDING)
        abort(); /* a logic error in this file: requests are never queued that deep */
    connection->pending[(connection->pendingHead + connection->pendingCount) % CONN_MAX_PENDING] =
        signature;
    connection->pendingCount++;
}

static ErrCode connFlush(BoltConnection *connection)
{
    if (connection->outgoing.length == 0)
        return ERR_OK;
    ErrCode code = boltTransportWrite(connection->transport, connection->outgoing.data,
                                      connection->outgoing.length);
    bufferClear(&connection->outgoing);
    return code == ERR_OK ? ERR_OK : connDefunct(connection, code);
}

static uint8_t connPendingHead(const BoltConnection *connection)
{
    return connection->pendingCount ? connection->pending[connection->pendingHead] : 0;
}

static void connPendingPop(BoltConnection *connection)
{
    if (connection->pendingCount == 0)
        return;
    connection->pendingHead = (connection->pendingHead + 1) % CONN_MAX_PENDING;
    connection->pendingCount--;
}

/* ---- input ----------------------------------------------------------- */

static ErrCode connEndOfStream(BoltConnection *connection, bool midMessage)
{
    ErrCode code;
    if (midMessage)
        code = errSet(NEO4J_UNREACHABLE, "server %s closed the connection in the middle of a message (%s)",
                      boltTransportPeer(connection->transport), connection->phase);
    else
        code = errSet(NEO4J_UNREACHABLE, "server %s closed the connection %s",
                      boltTransportPeer(connection->transport), connection->phase);
    return connDefunct(connection, code);
}

static ErrCode connFill(BoltConnection *connection)
{
    size_t received = 0;
    ErrCode code = boltTransportRead(connection->transport, connection->readBlock, CONN_READ_BLOCK,
                                     &received);
    if (code != ERR_OK)
        return connDefunct(connection, code);
    if (received == 0)
        return connEndOfStream(connection, boltChunkReaderInMessage(&connection->reader));
    connection->readOffset = 0;
    connection->readLength = received;
    return ERR_OK;
}

/* Reads exactly length raw (unchunked) bytes: the handshake reply. */
static ErrCode connReadRaw(BoltConnection *connection, uint8_t *out, size_t length)
{
    while (length > 0) {
        if (connection->readOffset == connection->readLength) {
            ErrCode code = connFill(connection);
            if (code != ERR_OK)
                return code;
        }
        size_t available = connection->readLength - connection->readOffset;
        size_t piece = available < length ? available : length;
        memcpy(out, connection->readBlock + connection->readOffset, piece);
        connection->readOffset += piece;
        out += piece;
        length -= piece;
    }
    return ERR_OK;
}

/* Reads the next whole message (NOOPs skipped) and returns its signature and
 * field count; the payload is in connection->reader.message until the next read. */
static ErrCode connReadMessage(BoltConnection *connection, uint8_t *signature, uint8_t *fieldCount)
{
    boltChunkReaderNext(&connection->reader);
    while (!connection->reader.complete) {
        if (connection->readOffset == connection->readLength) {
            ErrCode code = connFill(connection);
            if (code != ERR_OK)
                return code;
        }
        size_t consumed = 0;
        ErrCode code = boltChunkReaderFeed(&connection->reader,
                                           connection->readBlock + connection->readOffset,
                                           connection->readLength - connection->readOffset, &consumed);
        connection->readOffset += consumed;
        if (code != ERR_OK)
            return connDefunct(connection, code);
    }
    const Buffer *payload = &connection->reader.message;
    if (payload->length < 2 || (payload->data[0] & 0xF0) != 0xB0)
        return connDefunct(connection,
                           errSet(NEO4J_PROTOCOL_ERROR,
                                  "the server sent a message that is not a structure (first byte 0x%02X)",
                                  payload->data[0]));
    *fieldCount = payload->data[0] & 0x0F;
    *signature = payload->data[1];
    return ERR_OK;
}

/* Decodes the single field of the current message (a SUCCESS/FAILURE map or
 * a RECORD list) into arena; a summary without fields reads as an empty map. */
static ErrCode connDecodeField(BoltConnection *connection, uint8_t fieldCount, BoltType expected,
                               Arena *arena, BoltValue *out)
{
    const Buffer *payload = &connection->reader.message;
    if (fieldCount == 0 && expected == BOLT_MAP) {
        *out = boltMap(arena, 0);
        return ERR_OK;
    }
    PackReader reader;
    packReaderInit(&reader, payload->data, payload->length);
    reader.offset = 2;
    ErrCode code = fieldCount == 1 ? unpackValue(&reader, arena, out)
                                   : errSet(NEO4J_PROTOCOL_ERROR, "%s message with %u fields",
                                            boltMessageName(payload->data[1]), fieldCount);
    if (code == ERR_OK && out->type != expected)
        code = errSet(NEO4J_PROTOCOL_ERROR, "%s message carries a %s where a %s was expected",
                      boltMessageName(payload->data[1]), boltTypeName(out),
                      expected == BOLT_MAP ? "map" : "list");
    if (code == ERR_OK && reader.offset != payload->length)
        code = errSet(NEO4J_PROTOCOL_ERROR, "%zu stray bytes after a %s message",
                      payload->length - reader.offset, boltMessageName(payload->data[1]));
    if (code != ERR_OK) {
        errAddContext("decoding a Bolt message from %s", boltTransportPeer(connection->transport));
        return connDefunct(connection, code);
    }
    return ERR_OK;
}

/* Reads the summary that answers the oldest pending request. RECORDs are
 * not expected here. */
static ErrCode connReadSummary(BoltConnection *connection, Arena *arena, uint8_t *signature,
                               BoltValue *metadata)
{
    uint8_t fieldCount = 0;
    ErrCode code = connReadMessage(connection, signature, &fieldCount);
    if (code != ERR_OK)
        return code;
    uint8_t request = connPendingHead(connection);
    if (*signature != BOLT_MSG_SUCCESS && *signature != BOLT_MSG_FAILURE &&
        *signature != BOLT_MSG_IGNORED)
        return connDefunct(connection,
                           errSet(NEO4J_PROTOCOL_ERROR, "unexpected %s message in reply to %s",
                                  boltMessageName(*signature),
                                  request ? boltMessageName(request) : "nothing"));
    if (!request)
        return connDefunct(connection, errSet(NEO4J_PROTOCOL_ERROR,
                                              "the server sent %s although no request was pending",
                                              boltMessageName(*signature)));
    connPendingPop(connection);
    if (*signature == BOLT_MSG_IGNORED) {
        *metadata = boltMap(arena, 0);
        return ERR_OK;
    }
    return connDecodeField(connection, fieldCount, BOLT_MAP, arena, metadata);
}

/* ---- failures -------------------------------------------------------- */

typedef struct {
    char code[160];
    char message[700];
    char gqlStatus[16];
} ConnServerFailure;

static void connParseFailure(const BoltValue *metadata, ConnServerFailure *out)
{
    /* 5.7 renamed code to neo4j_code; read both. */
    const char *code = boltMapGetString(metadata, "neo4j_code", NULL);
    if (!code)
        code = boltMapGetString(metadata, "code", "N/A");
    const char *message = boltMapGetString(metadata, "message", NULL);
    if (!message)
        message = boltMapGetString(metadata, "description", "no message");
    snprintf(out->code, sizeof(out->code), "%s", code);
    snprintf(out->message, sizeof(out->message), "%s", message);
    snprintf(out->gqlStatus, sizeof(out->gqlStatus), "%s",
             boltMapGetString(metadata, "gql_status", ""));
    /* Syntax errors come with a multi-line caret diagram; a reason is one line. */
    char *write = out->message;
    bool lastWasSpace = false;
    for (const char *read = out->message; *read; read++) {
        bool space = *read == '\n' || *read == '\r' || *read == '\t' || *read == ' ';
        if (space && lastWasSpace)
            continue;
        *write++ = space ? ' ' : *read;
        lastWasSpace = space;
    }
    while (write > out->message && write[-1] == ' ')
        write--;
    *write = '\0';
}

/* The GQL status stays out of the reason: 5.26 reports many errors as the
 * generic 50N42, which would mislead; the Neo4j code is the useful part. */
static ErrCode connSetServerError(ErrCode errorCode, const char *prefix, const ConnServerFailure *failure)
{
    if (failure->gqlStatus[0])
        logDebug("Neo4j failure %s, GQL status %s", failure->code, failure->gqlStatus);
    errSet(errorCode, "%s%s", prefix, failure->message);
    errSetServerCode(failure->code);
    return errorCode;
}

/* RESET: abandons whatever is running or queued and returns the server to
 * READY. Reads one summary per queued request, then RESET's own. */
static ErrCode connReset(BoltConnection *connection)
{
    boltMessageSimple(&connection->message, BOLT_MSG_RESET);
    connQueue(connection, BOLT_MSG_RESET);
    ErrCode code = connFlush(connection);
    connection->resultOpen = false;
    connection->streamRequestPending = false;
    connection->inTransaction = false; /* RESET ends any open transaction */
    const char *previousPhase = connection->phase;
    connection->phase = "while recovering from an error (RESET)";
    while (code == ERR_OK) {
        uint8_t fieldCount = 0, signature = 0;
        code = connReadMessage(connection, &signature, &fieldCount);
        if (code != ERR_OK)
            break;
        if (signature == BOLT_MSG_RECORD)
            continue; /* rest of an abandoned result */
        uint8_t request = connPendingHead(connection);
        connPendingPop(connection);
        if (request != BOLT_MSG_RESET)
            continue; /* IGNORED (or a late summary) for a request queued before RESET */
        if (signature == BOLT_MSG_SUCCESS)
            break;
        BoltValue metadata = boltNull();
        arenaReset(connection->scratchArena);
        if (signature == BOLT_MSG_FAILURE &&
            connDecodeField(connection, fieldCount, BOLT_MAP, connection->scratchArena, &metadata) == ERR_OK) {
            ConnServerFailure failure;
            connParseFailure(&metadata, &failure);
            code = connSetServerError(NEO4J_PROTOCOL_ERROR, "the server refused RESET: ", &failure);
        } else {
            code = errSet(NEO4J_PROTOCOL_ERROR, "the server answered RESET with %s",
                          boltMessageName(signature));
        }
        connDefunct(connection, code);
    }
    connection->phase = previousPhase;
    return code;
}

/* A FAILURE arrived (metadata decoded): recover with RESET, then report the
 * server's error as NEO4J_QUERY_FAILED. */
static ErrCode connQueryFailure(BoltConnection *connection, const BoltValue *metadata)
{
    ConnServerFailure failure;
    connParseFailure(metadata, &failure);
    ErrCode resetCode = connReset(connection);
    if (resetCode != ERR_OK) {
        /* The server may close right after its FAILURE (e.g. a parameter it
         * cannot decode): keep its reason, it says more than the close. */
        char closed[sizeof(errLast()->reason)];
        snprintf(closed, sizeof(closed), "%s", errLast()->reason);
        errSet(resetCode, "%s, after Neo4j refused the request: %s", closed, failure.message);
        errSetServerCode(failure.code);
        return resetCode;
    }
    return connSetServerError(NEO4J_QUERY_FAILED, "", &failure);
}

/* Reads the summary of a simple request (BEGIN, COMMIT, ...), turning a
 * FAILURE into NEO4J_QUERY_FAILED after recovery. */
static ErrCode connExpectSuccess(BoltConnection *connection, Arena *arena, BoltValue *metadata)
{
    uint8_t signature = 0;
    ErrCode code = connReadSummary(connection, arena, &signature, metadata);
    if (code != ERR_OK)
        return code;
    if (signature == BOLT_MSG_FAILURE)
        return connQueryFailure(connection, metadata);
    if (signature == BOLT_MSG_IGNORED) {
        /* Only after an earlier failure we did not see: recover and say so. */
        ErrCode resetCode = connReset(connection);
        return resetCode != ERR_OK ? resetCode
                                   : errSet(NEO4J_PROTOCOL_ERROR, "the server ignored a request");
    }
    return ERR_OK;
}

/* ---- handshake and authentication ------------------------------------ */

/* Fills proposals (4 slots) from the version table, capped at max. */
static void connBuildProposals(uint8_t maxMajor, uint8_t maxMinor, uint8_t proposals[16])
{
    memset(proposals, 0, 16);
    unsigned slot = 0;
    for (size_t index = 0; index < sizeof(connSupportedVersions) / sizeof(connSupportedVersions[0]) && slot < 4;
         index++) {
        ConnVersionRange range = connSupportedVersions[index];
        if (maxMajor != 0 || maxMinor != 0) {
            if (range.major > maxMajor)
                continue;
            if (range.major == maxMajor && range.minorHigh > maxMinor) {
                if (maxMinor < range.minorLow)
                    continue;
                range.minorHigh = maxMinor;
            }
        }
        uint8_t *proposal = proposals + slot * 4;
        proposal[0] = 0;
        proposal[1] = (uint8_t)(range.minorHigh - range.minorLow);
        proposal[2] = range.minorHigh;
        proposal[3] = range.major;
        slot++;
    }
}

static bool connProposalCovers(const uint8_t proposals[16], uint8_t major, uint8_t minor)
{
    for (unsigned slot = 0; slot < 4; slot++) {
        const uint8_t *proposal = proposals + slot * 4;
        if (proposal[3] == 0 || proposal[3] != major)
            continue;
        if (minor <= proposal[2] && minor + proposal[1] >= proposal[2])
            return true;
    }
    return false;
}

static ErrCode connHandshake(BoltConnection *connection, const BoltConnectOptions *options)
{
    uint8_t request[20];
    request[0] = 0x60;
    request[1] = 0x60;
    request[2] = 0xB0;
    request[3] = 0x17;
    connBuildProposals(options->maxMajor, options->maxMinor, request + 4);
    if (request[4 + 3] == 0) {
        ErrCode code = errSet(CONFIG_INVALID, "no supported Bolt version is at or below %u.%u",
                              (unsigned)options->maxMajor, (unsigned)options->maxMinor);
        return connDefunct(connection, code);
    }
    connection->phase = "during the Bolt handshake";
    ErrCode code = boltTransportWrite(connection->transport, request, sizeof(request));
    if (code != ERR_OK)
        return connDefunct(connection, code);
    uint8_t reply[4];
    code = connReadRaw(connection, reply, sizeof(reply));
    if (code != ERR_OK) {
        if (errLast()->code == NEO4J_UNREACHABLE && !boltTransportIsTls(connection->transport))
            errSetAction("Check that NEO4J_URI points at the Bolt port (7687); if the server "
                         "requires TLS, use bolt+s:// or bolt+ssc://");
        return code;
    }
    if (memcmp(reply, "HTTP", 4) == 0) {
        code = errSet(NEO4J_PROTOCOL_ERROR,
                      "%s answered with HTTP: this is the HTTP port, use the Bolt port (7687)",
                      boltTransportPeer(connection->transport));
        errSetAction("Set NEO4J_URI to the Bolt port, e.g. bolt://host:7687");
        return connDefunct(connection, code);
    }
    if (memcmp(reply, "\0\0\0\0", 4) == 0) {
        code = errSet(NEO4J_PROTOCOL_ERROR,
                      "server supports none of the offered Bolt versions (offered 6.0, 5.8-5.0, "
                      "4.4 up to the configured cap)");
        errSetAction("Use Neo4j 5.x or newer");
        return connDefunct(connection, code);
    }
    if (reply[0] != 0 || reply[1] != 0 || !connProposalCovers(request + 4, reply[3], reply[2])) {
        code = errSet(NEO4J_PROTOCOL_ERROR,
                      "the server answered the Bolt handshake with %02X %02X %02X %02X, which is "
                      "not a version this client offered",
                      reply[0], reply[1], reply[2], reply[3]);
        return connDefunct(connection, code);
    }
    connection->major = reply[3];
    connection->minor = reply[2];
    return ERR_OK;
}

static void connPlatform(char *text, size_t size)
{
    struct utsname system;
    if (uname(&system) == 0)
        snprintf(text, size, "%s %s; %s", system.sysname, system.release, system.machine);
    else
        snprintf(text, size, "unknown");
}

static ErrCode connAuthFailure(BoltConnection *connection, const BoltValue *metadata,
                               const char *request)
{
    ConnServerFailure failure;
    connParseFailure(metadata, &failure);
    bool security = strstr(failure.code, ".Security.") != NULL;
    /* HELLO of 5.1+ carries no credentials: its failure is a protocol problem. */
    bool carriedAuth = strcmp(request, "LOGON") == 0 || !connAtLeast(connection, 5, 1);
    ErrCode errorCode = security || carriedAuth ? NEO4J_AUTH_FAILED : NEO4J_PROTOCOL_ERROR;
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "Neo4j refused %s: ", request);
    connSetServerError(errorCode, prefix, &failure);
    if (strstr(failure.code, "CredentialsExpired"))
        errSetAction("Change the password of this user (e.g. with cypher-shell), then update "
                     "NEO4J_PASSWORD");
    else if (strstr(failure.code, "AuthenticationRateLimit"))
        errSetAction("Wait for the rate limit to expire, then check NEO4J_USER and NEO4J_PASSWORD");
    return connDefunct(connection, errorCode);
}

static ErrCode connAuthenticate(BoltConnection *connection, const BoltConnectOptions *options)
{
    char platform[256];
    connPlatform(platform, sizeof(platform));
    bool logonMessage = connAtLeast(connection, 5, 1);
    BoltHelloFields hello = {
        .userAgent = options->userAgent ? options->userAgent : "neo4j-backup/" NBK_VERSION,
        .boltAgentProduct = connAtLeast(connection, 5, 3) ? "neo4j-backup/" NBK_VERSION : NULL,
        .boltAgentPlatform = platform,
        .boltAgentLanguage = "C17",
        .routingAddress = connection->routingAddress[0] ? connection->routingAddress : NULL,
        .patchUtc = connection->major == 4,
        .includeAuth = !logonMessage,
        .user = options->user,
        .password = options->password,
    };
    boltMessageHello(&connection->message, &hello);
    connQueue(connection, BOLT_MSG_HELLO);
    if (logonMessage) {
        boltMessageLogon(&connection->message, options->user, options->password);
        connQueue(connection, BOLT_MSG_LOGON);
    }
    ErrCode code = connFlush(connection);
    /* The credentials were in these buffers: do not leave them in freed memory. */
    connWipe(&connection->message);
    connWipe(&connection->outgoing);
    if (code != ERR_OK)
        return code;

    connection->phase = "during authentication (a server that requires TLS closes plain "
                        "connections here; then use bolt+s:// or bolt+ssc://)";
    arenaReset(connection->scratchArena);
    BoltValue metadata;
    uint8_t signature = 0;
    code = connReadSummary(connection, connection->scratchArena, &signature, &metadata);
    if (code != ERR_OK)
        return code;
    if (signature != BOLT_MSG_SUCCESS)
        return signature == BOLT_MSG_FAILURE
                   ? connAuthFailure(connection, &metadata, "HELLO")
                   : connDefunct(connection, errSet(NEO4J_PROTOCOL_ERROR, "the server ignored HELLO"));

    snprintf(connection->serverAgent, sizeof(connection->serverAgent), "%s",
             boltMapGetString(&metadata, "server", ""));
    snprintf(connection->connectionId, sizeof(connection->connectionId), "%s",
             boltMapGetString(&metadata, "connection_id", ""));
    if (connection->major == 4) {
        bool utcAccepted = false;
        const BoltValue *patches = boltMapGet(&metadata, "patch_bolt");
        if (patches && patches->type == BOLT_LIST)
            for (uint32_t index = 0; index < patches->as.list.count; index++) {
                const BoltValue *patch = &patches->as.list.items[index];
                if (patch->type == BOLT_STRING && strcmp(patch->as.string.data, "utc") == 0)
                    utcAccepted = true;
            }
        if (!utcAccepted) {
            code = errSet(NEO4J_PROTOCOL_ERROR,
                          "the server speaks Bolt 4.4 without the \"utc\" patch, so DateTime "
                          "values could not be carried exactly");
            errSetAction("Use Neo4j 5.x or newer (Bolt 5)");
            return connDefunct(connection, code);
        }
    }

    if (logonMessage) {
        arenaReset(connection->scratchArena);
        code = connReadSummary(connection, connection->scratchArena, &signature, &metadata);
        if (code != ERR_OK)
            return code;
        if (signature != BOLT_MSG_SUCCESS)
            return signature == BOLT_MSG_FAILURE
                       ? connAuthFailure(connection, &metadata, "LOGON")
                       : connDefunct(connection, errSet(NEO4J_PROTOCOL_ERROR, "the server ignored LOGON"));
        if (boltMapGetBool(&metadata, "credentials_expired", false)) {
            code = errSet(NEO4J_AUTH_FAILED, "the password of user %s has expired",
                          options->user ? options->user : "(none)");
            errSetAction("Change the password (e.g. with cypher-shell), then update NEO4J_PASSWORD");
            return connDefunct(connection, code);
        }
    }
    connection->phase = "while waiting for a reply";
    return ERR_OK;
}

/* ---- connect / close ------------------------------------------------- */

static BoltConnection *connNew(BoltTransport *transport)
{
    BoltConnection *connection = memCalloc(1, sizeof(*connection));
    uint8_t *readBlock = memAlloc(CONN_READ_BLOCK);
    connection->transport = transport;
    connection->readBlock = readBlock;
    bufferInit(&connection->message);
    bufferInit(&connection->outgoing);
    boltChunkReaderInit(&connection->reader, BOLT_MAX_MESSAGE_SIZE);
    connection->scratchArena = arenaNew(0);
    connection->resultArena = arenaNew(0);
    connection->summaryArena = arenaNew(0);
    connection->recordArena = arenaNew(0);
    connection->phase = "while waiting for a reply";
    return connection;
}

static void connFree(BoltConnection *connection)
{
    boltTransportClose(connection->transport);
    connWipe(&connection->message);
    connWipe(&connection->outgoing);
    bufferFree(&connection->message);
    bufferFree(&connection->outgoing);
    boltChunkReaderFree(&connection->reader);
    arenaFree(connection->scratchArena);
    arenaFree(connection->resultArena);
    arenaFree(connection->summaryArena);
    arenaFree(connection->recordArena);
    free(connection->readBlock);
    free(connection);
}

static ErrCode connStart(BoltConnection *connection, const BoltConnectOptions *options)
{
    ErrCode code = connHandshake(connection, options);
    if (code == ERR_OK)
        code = connAuthenticate(connection, options);
    if (code != ERR_OK)
        return code;
    if (options->readTimeoutMs > 0)
        boltTransportSetTimeout(connection->transport, options->readTimeoutMs);
    logDebug("Bolt %u.%u with %s (%s, %s)", (unsigned)connection->major,
             (unsigned)connection->minor, boltTransportPeer(connection->transport),
             connection->serverAgent, connection->connectionId);
    return ERR_OK;
}

ErrCode boltConnectTransport(const BoltConnectOptions *options, BoltTransport *transport,
                             BoltConnection **out)
{
    *out = NULL;
    BoltConnection *connection = connNew(transport);
    if (options->uri) {
        ErrCode code = boltUriParse(options->uri, &connection->uri);
        if (code != ERR_OK) {
            connFree(connection);
            return code;
        }
        connection->hasUri = true;
        if (options->routingContext)
            snprintf(connection->routingAddress, sizeof(connection->routingAddress), "%s",
                     options->routingContext);
        else if (connection->uri.routing)
            boltAddressFormat(connection->uri.host, connection->uri.port, connection->routingAddress,
                              sizeof(connection->routingAddress));
    }
    /* The handshake and authentication are bounded by the connect timeout. */
    boltTransportSetTimeout(transport, options->connectTimeoutMs > 0 ? options->connectTimeoutMs : 10000);
    ErrCode code = connStart(connection, options);
    if (code != ERR_OK) {
        connFree(connection);
        return code;
    }
    boltTransportSetTimeout(transport, options->readTimeoutMs);
    *out = connection;
    return ERR_OK;
}

/* Issue 11: basic auth over plain TCP to another machine shows the password
 * to anyone on the path. Said once per process (a run, or a scheduler's
 * life), not once per connection, so a long routed run is not flooded. */
static void connWarnCleartextOnce(const BoltUri *uri)
{
    static atomic_bool warned;
    if (!boltUriSendsPasswordInClear(uri) || atomic_exchange(&warned, true))
        return;
    char address[300];
    boltAddressFormat(uri->host, uri->port, address, sizeof(address));
    logWarn("The Neo4j password is sent unencrypted to %s (%s:// to a host that is not loopback); "
            "use %s+s:// or %s+ssc:// to encrypt the connection",
            address, uri->scheme, uri->routing ? "neo4j" : "bolt", uri->routing ? "neo4j" : "bolt");
}

ErrCode boltConnect(const BoltConnectOptions *options, BoltConnection **out)
{
    *out = NULL;
    if (!options || !options->uri)
        return errSet(CONFIG_INVALID, "no Neo4j URI given");
    BoltUri uri;
    ErrCode code = boltUriParse(options->uri, &uri);
    if (code != ERR_OK)
        return code;
    BoltTransportOptions transportOptions = {
        .host = uri.host,
        .port = uri.port,
        .tls = uri.tls,
        .caFile = options->caFile,
        .connectTimeoutMs = options->connectTimeoutMs,
    };
    BoltTransport *transport = NULL;
    code = boltTransportConnect(&transportOptions, &transport);
    if (code != ERR_OK)
        return code;
    /* Warned once connected: only then would the password really leave. */
    if (options->user && options->password && options->password[0])
        connWarnCleartextOnce(&uri);
    return boltConnectTransport(options, transport, out);
}

void boltClose(BoltConnection *connection)
{
    if (!connection)
        return;
    if (!connection->defunct && connection->major != 0) {
        /* Best effort: GOODBYE gets no reply, so a short timeout is enough. */
        boltTransportSetTimeout(connection->transport, 1000);
        bufferClear(&connection->outgoing);
        boltMessageSimple(&connection->message, BOLT_MSG_GOODBYE);
        connQueue(connection, BOLT_MSG_GOODBYE);
        ErrDetail saved = errSave();
        connFlush(connection);
        /* Closing must not overwrite the error the caller may still report. */
        if (saved.code != ERR_OK)
            errRestore(&saved);
    }
    connFree(connection);
}

uint8_t boltVersionMajor(const BoltConnection *connection) { return connection->major; }
uint8_t boltVersionMinor(const BoltConnection *connection) { return connection->minor; }
const char *boltServerAgent(const BoltConnection *connection) { return connection->serverAgent; }

/* ---- results --------------------------------------------------------- */

static void connTxExtra(const BoltQueryOptions *options, BoltTxExtra *extra)
{
    memset(extra, 0, sizeof(*extra));
    if (!options)
        return;
    extra->database = options->database;
    extra->readMode = options->mode == BOLT_ACCESS_READ;
    extra->txMetadata = options->txMetadata;
    extra->txTimeoutMs = options->txTimeoutMs;
}

static int64_t connFetchSize(const BoltQueryOptions *options)
{
    if (!options || options->fetchSize == 0)
        return CONN_DEFAULT_FETCH_SIZE;
    return options->fetchSize < 0 ? -1 : options->fetchSize;
}

/* Advances the open result by one step: returns the next record (unless
 * discarding, which skips records and returns only when the result ended),
 * or *record NULL when the result is finished. Sends the next PULL (or a
 * DISCARD) when the server said has_more. */
static ErrCode connStreamStep(BoltConnection *connection, bool discarding, const BoltValue **record)
{
    *record = NULL;
    connection->phase = "in the middle of a result";
    while (connection->resultOpen) {
        if (!connection->streamRequestPending) {
            if (discarding) {
                boltMessageDiscard(&connection->message, -1, -1);
                connQueue(connection, BOLT_MSG_DISCARD);
            } else {
                boltMessagePull(&connection->message, connection->fetchSize, -1);
                connQueue(connection, BOLT_MSG_PULL);
            }
            connection->streamRequestPending = true;
            ErrCode code = connFlush(connection);
            if (code != ERR_OK)
                return code;
        }
        uint8_t signature = 0, fieldCount = 0;
        ErrCode code = connReadMessage(connection, &signature, &fieldCount);
        if (code != ERR_OK)
            return code;
        uint8_t request = connPendingHead(connection);
        if (signature == BOLT_MSG_RECORD) {
            if (request != BOLT_MSG_PULL)
                return connDefunct(connection,
                                   errSet(NEO4J_PROTOCOL_ERROR, "RECORD in reply to %s",
                                          request ? boltMessageName(request) : "nothing"));
            if (discarding)
                continue; /* not decoded: the caller does not want it */
            arenaReset(connection->recordArena);
            code = connDecodeField(connection, fieldCount, BOLT_LIST, connection->recordArena,
                                   &connection->currentRecord);
            if (code != ERR_OK)
                return code;
            *record = &connection->currentRecord;
            return ERR_OK;
        }
        if (signature != BOLT_MSG_SUCCESS && signature != BOLT_MSG_FAILURE &&
            signature != BOLT_MSG_IGNORED)
            return connDefunct(connection, errSet(NEO4J_PROTOCOL_ERROR, "unexpected %s message in a result",
                                                  boltMessageName(signature)));
        connPendingPop(connection);
        connection->streamRequestPending = false;
        if (signature == BOLT_MSG_IGNORED) {
            ErrCode resetCode = connReset(connection);
            return resetCode != ERR_OK ? resetCode
                                       : errSet(NEO4J_PROTOCOL_ERROR, "the server ignored %s",
                                                boltMessageName(request));
        }
        /* Decoded into the summary arena: the last one is the result's summary. */
        arenaReset(connection->summaryArena);
        connection->summaryValid = false;
        BoltValue metadata;
        code = connDecodeField(connection, fieldCount, BOLT_MAP, connection->summaryArena, &metadata);
        if (code != ERR_OK)
            return code;
        if (signature == BOLT_MSG_FAILURE)
            return connQueryFailure(connection, &metadata);
        if (!boltMapGetBool(&metadata, "has_more", false)) {
            connection->resultOpen = false;
            connection->summary = metadata;
            connection->summaryValid = true;
        }
    }
    connection->phase = "while waiting for a reply";
    return ERR_OK;
}

ErrCode boltFetch(BoltConnection *connection, const BoltValue **record)
{
    *record = NULL;
    ErrCode code = connCheckUsable(connection);
    if (code != ERR_OK)
        return code;
    return connStreamStep(connection, false, record);
}

ErrCode boltDiscard(BoltConnection *connection)
{
    ErrCode code = connCheckUsable(connection);
    if (code != ERR_OK)
        return code;
    const BoltValue *ignored = NULL;
    return connStreamStep(connection, true, &ignored);
}

ErrCode boltRun(BoltConnection *connection, const char *query, const BoltValue *params,
                const BoltQueryOptions *options)
{
    ErrCode code = connCheckUsable(connection);
    if (code == ERR_OK && connection->resultOpen)
        code = boltDiscard(connection);
    if (code != ERR_OK)
        return code;
    arenaReset(connection->resultArena);
    connection->fieldNames = NULL;
    connection->fieldCount = 0;
    connection->summaryValid = false;
    connection->fetchSize = connFetchSize(options);

    BoltTxExtra extra;
    connTxExtra(options, &extra);
    /* Inside a transaction the BEGIN set database and mode: RUN extra is {}. */
    boltMessageRun(&connection->message, query, params, connection->inTransaction ? NULL : &extra);
    connQueue(connection, BOLT_MSG_RUN);
    boltMessagePull(&connection->message, connection->fetchSize, -1);
    connQueue(connection, BOLT_MSG_PULL);
    connection->streamRequestPending = true;
    connection->resultOpen = true;
    connection->phase = "in the middle of a result";
    code = connFlush(connection);
    if (code != ERR_OK)
        return code;

    BoltValue metadata;
    uint8_t signature = 0;
    code = connReadSummary(connection, connection->resultArena, &signature, &metadata);
    if (code != ERR_OK)
        return code;
    if (signature == BOLT_MSG_FAILURE)
        return connQueryFailure(connection, &metadata);
    if (signature == BOLT_MSG_IGNORED) {
        ErrCode resetCode = connReset(connection);
        return resetCode != ERR_OK ? resetCode : errSet(NEO4J_PROTOCOL_ERROR, "the server ignored RUN");
    }
    const BoltValue *fields = boltMapGet(&metadata, "fields");
    if (fields && fields->type == BOLT_LIST && fields->as.list.count > 0) {
        connection->fieldNames = arenaAlloc(connection->resultArena,
                                            sizeof(const char *) * fields->as.list.count);
        for (uint32_t index = 0; index < fields->as.list.count; index++) {
            const BoltValue *name = &fields->as.list.items[index];
            connection->fieldNames[index] = name->type == BOLT_STRING ? name->as.string.data : "";
        }
        connection->fieldCount = fields->as.list.count;
    }
    return ERR_OK;
}

uint32_t boltFieldCount(const BoltConnection *connection) { return connection->fieldCount; }

const char *boltFieldName(const BoltConnection *connection, uint32_t index)
{
    return index < connection->fieldCount ? connection->fieldNames[index] : NULL;
}

const BoltValue *boltResultSummary(const BoltConnection *connection)
{
    return connection->summaryValid ? &connection->summary : NULL;
}

ErrCode boltQuerySingle(BoltConnection *connection, const char *query, const BoltValue *params,
                        const BoltQueryOptions *options, Arena *arena, BoltValue *out)
{
    *out = boltNull();
    BoltQueryOptions single = options ? *options : (BoltQueryOptions){0};
    single.fetchSize = 1; /* one row is all we keep */
    ErrCode code = boltRun(connection, query, params, &single);
    const BoltValue *record = NULL;
    if (code == ERR_OK)
        code = boltFetch(connection, &record);
    if (code != ERR_OK)
        return code;
    if (record && record->as.list.count > 0)
        *out = boltValueCopy(arena, &record->as.list.items[0]);
    return boltDiscard(connection);
}

/* ---- transactions ---------------------------------------------------- */

/* Sends one message (already encoded into connection->message) and waits for
 * its SUCCESS, whose metadata lands in the scratch arena. phase names the step
 * in errors while it runs. BEGIN, COMMIT/ROLLBACK and ROUTE share it. */
static ErrCode connRoundTrip(BoltConnection *connection, uint8_t signature, const char *phase,
                             BoltValue *metadata)
{
    connQueue(connection, signature);
    connection->phase = phase;
    ErrCode code = connFlush(connection);
    if (code != ERR_OK)
        return code;
    arenaReset(connection->scratchArena);
    code = connExpectSuccess(connection, connection->scratchArena, metadata);
    connection->phase = "while waiting for a reply";
    return code;
}

ErrCode boltBegin(BoltConnection *connection, const BoltQueryOptions *options)
{
    ErrCode code = connCheckUsable(connection);
    if (code == ERR_OK && connection->inTransaction)
        code = errSet(ERR_INTERNAL, "a transaction is already open on this connection");
    if (code == ERR_OK && connection->resultOpen)
        code = boltDiscard(connection);
    if (code != ERR_OK)
        return code;
    BoltTxExtra extra;
    connTxExtra(options, &extra);
    boltMessageBegin(&connection->message, &extra);
    BoltValue metadata;
    code = connRoundTrip(connection, BOLT_MSG_BEGIN, "while starting a transaction", &metadata);
    if (code == ERR_OK)
        connection->inTransaction = true;
    return code;
}

static ErrCode connEndTransaction(BoltConnection *connection, uint8_t signature)
{
    ErrCode code = connCheckUsable(connection);
    if (code != ERR_OK)
        return code;
    if (!connection->inTransaction) {
        if (signature == BOLT_MSG_ROLLBACK)
            return ERR_OK; /* already gone (an earlier failure reset it): nothing to undo */
        return errSet(NEO4J_QUERY_FAILED,
                      "no open transaction to commit (an earlier error rolled it back)");
    }
    if (connection->resultOpen) {
        code = boltDiscard(connection);
        if (code != ERR_OK)
            return code;
    }
    boltMessageSimple(&connection->message, signature);
    BoltValue metadata;
    code = connRoundTrip(connection, signature,
                         signature == BOLT_MSG_COMMIT ? "while committing" : "while rolling back", &metadata);
    connection->inTransaction = false; /* ended either way (a failed send already made it defunct) */
    return code;
}

ErrCode boltCommit(BoltConnection *connection) { return connEndTransaction(connection, BOLT_MSG_COMMIT); }
ErrCode boltRollback(BoltConnection *connection) { return connEndTransaction(connection, BOLT_MSG_ROLLBACK); }

/* ---- routing --------------------------------------------------------- */

ErrCode boltRoute(BoltConnection *connection, const char *database, Arena *arena, BoltValue *out)
{
    *out = boltNull();
    ErrCode code = connCheckUsable(connection);
    if (code == ERR_OK && (connection->inTransaction || connection->resultOpen))
        code = errSet(ERR_INTERNAL, "ROUTE is only allowed outside transactions and results");
    if (code != ERR_OK)
        return code;
    boltMessageRoute(&connection->message,
                     connection->routingAddress[0] ? connection->routingAddress : NULL, database);
    BoltValue metadata;
    code = connRoundTrip(connection, BOLT_MSG_ROUTE, "while fetching the routing table (ROUTE)", &metadata);
    if (code != ERR_OK)
        return code;
    const BoltValue *table = boltMapGet(&metadata, "rt");
    if (!table || table->type != BOLT_MAP)
        return errSet(NEO4J_PROTOCOL_ERROR, "%s answered ROUTE without a routing table (rt)",
                      boltTransportPeer(connection->transport));
    *out = boltValueCopy(arena, table);
    return ERR_OK;
}

const char *boltPeer(const BoltConnection *connection) { return boltTransportPeer(connection->transport); }
