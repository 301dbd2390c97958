/* Unit tests for Bolt chunk framing (src/bolt/chunk.c) and the request
 * message builders (src/bolt/message.c), checked against the byte examples
 * of bolt-facts.md §2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bolt/chunk.h"
#include "bolt/message.h"

#include <stdlib.h>
#include <string.h>

static void assertBytes(const Buffer *buffer, const uint8_t *expected, size_t length)
{
    assert_int_equal(buffer->length, length);
    assert_memory_equal(buffer->data, expected, length);
}

static void testWriteSmallMessage(void **state)
{
    (void)state;
    Buffer out;
    bufferInit(&out);
    const uint8_t reset[] = {0xB0, 0x0F};
    boltChunkWrite(&out, reset, sizeof(reset), BOLT_CHUNK_WRITE_SIZE);
    const uint8_t expected[] = {0x00, 0x02, 0xB0, 0x0F, 0x00, 0x00};
    assertBytes(&out, expected, sizeof(expected));
    /* An empty message would read as a NOOP: it is not framed at all. */
    bufferClear(&out);
    boltChunkWrite(&out, reset, 0, BOLT_CHUNK_WRITE_SIZE);
    assert_int_equal(out.length, 0);
    bufferFree(&out);
}

static void testWriteSplitsAtChunkSize(void **state)
{
    (void)state;
    size_t length = 150000;
    uint8_t *message = malloc(length);
    for (size_t index = 0; index < length; index++)
        message[index] = (uint8_t)(index * 7);
    Buffer out;
    bufferInit(&out);
    boltChunkWrite(&out, message, length, BOLT_CHUNK_WRITE_SIZE);
    /* 65535 + 65535 + 18930, each with a 2-byte header, then 00 00. */
    assert_int_equal(out.length, length + 3 * 2 + 2);
    assert_int_equal(out.data[0], 0xFF);
    assert_int_equal(out.data[1], 0xFF);
    assert_int_equal(out.data[2 + 65535], 0xFF);
    assert_int_equal(out.data[2 + 65535 + 1], 0xFF);
    size_t third = 2 * (65535 + 2);
    assert_int_equal((out.data[third] << 8) | out.data[third + 1], 150000 - 2 * 65535);
    assert_int_equal(out.data[out.length - 2], 0);
    assert_int_equal(out.data[out.length - 1], 0);

    /* The reader reassembles it exactly, fed in awkward pieces. */
    BoltChunkReader reader;
    boltChunkReaderInit(&reader, 0);
    size_t offset = 0;
    size_t piece = 1;
    while (!reader.complete) {
        size_t available = out.length - offset;
        size_t feed = piece < available ? piece : available;
        size_t consumed = 0;
        assert_int_equal(boltChunkReaderFeed(&reader, out.data + offset, feed, &consumed), ERR_OK);
        offset += consumed;
        piece = piece * 3 + 1;
        assert_true(offset <= out.length);
    }
    assert_int_equal(offset, out.length);
    assert_int_equal(reader.message.length, length);
    assert_memory_equal(reader.message.data, message, length);
    boltChunkReaderFree(&reader);
    bufferFree(&out);
    free(message);
}

static void testReaderNoopsAndBoundaries(void **state)
{
    (void)state;
    /* NOOP, message A in two chunks, NOOP, NOOP, message B: fed all at once. */
    const uint8_t stream[] = {0x00, 0x00, 0x00, 0x01, 0xB1, 0x00, 0x02, 0x70, 0xA0, 0x00, 0x00,
                              0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xB0, 0x7E, 0x00, 0x00};
    BoltChunkReader reader;
    boltChunkReaderInit(&reader, 0);
    size_t consumed = 0;
    assert_int_equal(boltChunkReaderFeed(&reader, stream, sizeof(stream), &consumed), ERR_OK);
    assert_true(reader.complete);
    assert_int_equal(consumed, 11); /* stops right after A's end marker */
    const uint8_t messageA[] = {0xB1, 0x70, 0xA0};
    assert_int_equal(reader.message.length, sizeof(messageA));
    assert_memory_equal(reader.message.data, messageA, sizeof(messageA));
    assert_int_equal(reader.noopCount, 1);

    boltChunkReaderNext(&reader);
    size_t more = 0;
    assert_int_equal(boltChunkReaderFeed(&reader, stream + consumed, sizeof(stream) - consumed, &more),
                     ERR_OK);
    assert_true(reader.complete);
    assert_int_equal(consumed + more, sizeof(stream));
    const uint8_t messageB[] = {0xB0, 0x7E};
    assert_memory_equal(reader.message.data, messageB, sizeof(messageB));
    assert_int_equal(reader.noopCount, 3);
    boltChunkReaderFree(&reader);
}

static void testReaderInMessage(void **state)
{
    (void)state;
    BoltChunkReader reader;
    boltChunkReaderInit(&reader, 0);
    assert_false(boltChunkReaderInMessage(&reader));
    const uint8_t half[] = {0x00, 0x10, 0xB1, 0x71};
    size_t consumed = 0;
    assert_int_equal(boltChunkReaderFeed(&reader, half, 1, &consumed), ERR_OK);
    assert_true(boltChunkReaderInMessage(&reader)); /* half a header */
    assert_int_equal(boltChunkReaderFeed(&reader, half + 1, sizeof(half) - 1, &consumed), ERR_OK);
    assert_true(boltChunkReaderInMessage(&reader));
    assert_false(reader.complete);
    assert_int_equal(reader.chunkRemaining, 14);
    boltChunkReaderFree(&reader);
}

static void testReaderSizeLimit(void **state)
{
    (void)state;
    BoltChunkReader reader;
    boltChunkReaderInit(&reader, 100);
    uint8_t stream[2 + 60 + 2 + 60];
    memset(stream, 0x41, sizeof(stream));
    stream[0] = 0;
    stream[1] = 60;
    stream[62] = 0;
    stream[63] = 60;
    size_t consumed = 0;
    errClear();
    assert_int_equal(boltChunkReaderFeed(&reader, stream, sizeof(stream), &consumed),
                     NEO4J_PROTOCOL_ERROR);
    assert_non_null(strstr(errLast()->reason, "larger than the limit"));
    assert_int_equal(reader.message.length, 60); /* never grew past the limit */
    boltChunkReaderFree(&reader);
}

/* ---- message builders: the bytes of bolt-facts.md §2 ------------------ */

static void testMessageBytes(void **state)
{
    (void)state;
    Buffer out;
    bufferInit(&out);
    Buffer framed;
    bufferInit(&framed);

    boltMessagePull(&out, -1, -1);
    boltChunkWrite(&framed, out.data, out.length, BOLT_CHUNK_WRITE_SIZE);
    const uint8_t pullAll[] = {0x00, 0x06, 0xB1, 0x3F, 0xA1, 0x81, 0x6E, 0xFF, 0x00, 0x00};
    assertBytes(&framed, pullAll, sizeof(pullAll));

    bufferClear(&out);
    bufferClear(&framed);
    boltMessagePull(&out, 1000, -1);
    boltChunkWrite(&framed, out.data, out.length, BOLT_CHUNK_WRITE_SIZE);
    const uint8_t pull1000[] = {0x00, 0x08, 0xB1, 0x3F, 0xA1, 0x81, 0x6E, 0xC9, 0x03, 0xE8, 0x00, 0x00};
    assertBytes(&framed, pull1000, sizeof(pull1000));

    bufferClear(&out);
    bufferClear(&framed);
    boltMessageRun(&out, "RETURN 1 AS x", NULL, NULL);
    boltChunkWrite(&framed, out.data, out.length, BOLT_CHUNK_WRITE_SIZE);
    const uint8_t run[] = {0x00, 0x12, 0xB3, 0x10, 0x8D, 'R', 'E', 'T', 'U', 'R', 'N', ' ', '1', ' ',
                           'A', 'S', ' ', 'x', 0xA0, 0xA0, 0x00, 0x00};
    assertBytes(&framed, run, sizeof(run));

    bufferClear(&out);
    boltMessageSimple(&out, BOLT_MSG_GOODBYE);
    const uint8_t goodbye[] = {0xB0, 0x02};
    assertBytes(&out, goodbye, sizeof(goodbye));

    bufferClear(&out);
    boltMessageDiscard(&out, -1, 3);
    const uint8_t discard[] = {0xB1, 0x2F, 0xA2, 0x81, 'n', 0xFF, 0x83, 'q', 'i', 'd', 0x03};
    assertBytes(&out, discard, sizeof(discard));

    /* RUN extra with read mode and database; empty metadata is left out. */
    bufferClear(&out);
    BoltTxExtra extra = {.database = "db", .readMode = true};
    boltMessageRun(&out, "", NULL, &extra);
    const uint8_t runExtra[] = {0xB3, 0x10, 0x80, 0xA0, 0xA2, 0x82, 'd', 'b', 0x82, 'd', 'b',
                                0x84, 'm', 'o', 'd', 'e', 0x81, 'r'};
    assertBytes(&out, runExtra, sizeof(runExtra));

    bufferClear(&out);
    boltMessageLogon(&out, NULL, NULL);
    const uint8_t logonNone[] = {0xB1, 0x6A, 0xA1, 0x86, 's', 'c', 'h', 'e', 'm', 'e', 0x84, 'n', 'o', 'n', 'e'};
    assertBytes(&out, logonNone, sizeof(logonNone));

    assert_string_equal(boltMessageName(BOLT_MSG_FAILURE), "FAILURE");
    assert_string_equal(boltMessageName(0x42), "0x42");
    bufferFree(&out);
    bufferFree(&framed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testWriteSmallMessage),
        cmocka_unit_test(testWriteSplitsAtChunkSize),
        cmocka_unit_test(testReaderNoopsAndBoundaries),
        cmocka_unit_test(testReaderInMessage),
        cmocka_unit_test(testReaderSizeLimit),
        cmocka_unit_test(testMessageBytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
