/* Test helper: the wire end of a fake Bolt server, shared by every fake of
 * the unit tests (FakeDb in logical_test.c, FakeNode in fake_router.h, the
 * fake target of logical_restore_test.c): the handshake, reading one request
 * as a structure, sending a message in chunks, SUCCESS and FAILURE, and small
 * value builders for the answers.
 *
 * A fake runs in its own thread and never calls cmocka: wire functions record
 * the first thing that went wrong in wire->failure, and the test asserts it is
 * empty after joining the thread. */
#ifndef NBK_TESTS_FAKE_BOLT_H
#define NBK_TESTS_FAKE_BOLT_H

#include "bolt/chunk.h"
#include "bolt/message.h"
#include "bolt/packstream.h"
#include "bolt/value.h"
#include "common/buffer.h"

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long a fake waits for its client before it gives up (and records so). */
#define FAKE_WIRE_TIMEOUT_MS 5000

typedef struct {
    int fd;              /* the connection being served; -1 between connections */
    Arena *arena;        /* requests read and answers built live here */
    size_t chunkSize;    /* payload bytes per chunk; 0 = the largest Bolt allows */
    char failure[256];   /* the first script failure, "" while all is well */
} FakeWire;

static inline void fakeWireInit(FakeWire *wire)
{
    memset(wire, 0, sizeof(*wire));
    wire->fd = -1;
    wire->arena = arenaNew(0);
}

static inline void fakeWireFree(FakeWire *wire)
{
    arenaFree(wire->arena);
    wire->arena = NULL;
}

/* Keeps the first failure: later ones are usually its consequences. */
static inline void fakeWireFail(FakeWire *wire, const char *what)
{
    if (!wire->failure[0])
        snprintf(wire->failure, sizeof(wire->failure), "%s", what);
}

/* Exactly length bytes; false at the end of the stream or after the timeout. */
static inline bool fakeWireRecv(FakeWire *wire, void *data, size_t length)
{
    uint8_t *cursor = data;
    while (length > 0) {
        struct pollfd waitFor = {.fd = wire->fd, .events = POLLIN};
        if (poll(&waitFor, 1, FAKE_WIRE_TIMEOUT_MS) <= 0) {
            fakeWireFail(wire, "timed out waiting for the client");
            return false;
        }
        ssize_t got = recv(wire->fd, cursor, length, 0);
        if (got <= 0)
            return false;
        cursor += got;
        length -= (size_t)got;
    }
    return true;
}

static inline void fakeWireSendBytes(FakeWire *wire, const void *data, size_t length)
{
    const uint8_t *cursor = data;
    while (length > 0) {
        ssize_t sent = send(wire->fd, cursor, length, MSG_NOSIGNAL);
        if (sent <= 0) {
            fakeWireFail(wire, "send failed");
            return;
        }
        cursor += sent;
        length -= (size_t)sent;
    }
}

/* Reads the client's handshake and agrees to Bolt 5.8. */
static inline bool fakeWireHandshake(FakeWire *wire)
{
    uint8_t handshake[20];
    if (!fakeWireRecv(wire, handshake, sizeof(handshake)))
        return false;
    const uint8_t version[4] = {0, 0, 8, 5};
    fakeWireSendBytes(wire, version, sizeof(version));
    return true;
}

/* One message: a structure with signature and at most one field. */
static inline void fakeWireSend(FakeWire *wire, uint8_t signature, const BoltValue *field)
{
    Buffer message, framed;
    bufferInit(&message);
    bufferInit(&framed);
    packStructHeader(&message, signature, field ? 1 : 0);
    if (field)
        packValue(&message, field);
    boltChunkWrite(&framed, message.data, message.length,
                   wire->chunkSize ? wire->chunkSize : BOLT_CHUNK_MAX_PAYLOAD);
    fakeWireSendBytes(wire, framed.data, framed.length);
    bufferFree(&message);
    bufferFree(&framed);
}

/* SUCCESS with no metadata (key NULL) or with the one entry key: value. */
static inline void fakeWireSuccess(FakeWire *wire, const char *key, BoltValue value)
{
    BoltValue metadata = boltMap(wire->arena, key ? 1 : 0);
    if (key)
        boltMapSet(wire->arena, &metadata, 0, key, value);
    fakeWireSend(wire, BOLT_MSG_SUCCESS, &metadata);
}

static inline void fakeWireFailure(FakeWire *wire, const char *code, const char *message)
{
    BoltValue failure = boltMap(wire->arena, 2);
    boltMapSet(wire->arena, &failure, 0, "code", boltString(wire->arena, code));
    boltMapSet(wire->arena, &failure, 1, "message", boltString(wire->arena, message));
    fakeWireSend(wire, BOLT_MSG_FAILURE, &failure);
}

/* One request as a structure value; false at the end of the stream. */
static inline bool fakeWireRead(FakeWire *wire, BoltValue *request)
{
    Buffer message;
    bufferInit(&message);
    for (;;) {
        uint8_t header[2];
        if (!fakeWireRecv(wire, header, 2)) {
            bufferFree(&message);
            return false;
        }
        size_t length = (size_t)header[0] << 8 | header[1];
        if (length == 0) {
            if (message.length == 0)
                continue; /* NOOP */
            break;
        }
        bufferReserve(&message, length);
        if (!fakeWireRecv(wire, message.data + message.length, length)) {
            bufferFree(&message);
            return false;
        }
        message.length += length;
    }
    PackReader reader;
    packReaderInit(&reader, message.data, message.length);
    bool decoded = unpackValue(&reader, wire->arena, request) == ERR_OK && request->type == BOLT_STRUCT;
    bufferFree(&message);
    if (!decoded)
        fakeWireFail(wire, "undecodable request");
    return decoded;
}

/* ---- answers ------------------------------------------------------------- */

static inline BoltValue fakeWireStrings(Arena *arena, unsigned count, const char *const *texts)
{
    BoltValue list = boltList(arena, count);
    for (unsigned index = 0; index < count; index++)
        list.as.list.items[index] = boltString(arena, texts[index]);
    return list;
}

static inline BoltValue fakeWireRow(Arena *arena, unsigned count, const BoltValue *cells)
{
    BoltValue row = boltList(arena, count);
    for (unsigned index = 0; index < count; index++)
        row.as.list.items[index] = cells[index];
    return row;
}

#endif
