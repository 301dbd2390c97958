/* The fingerprint's worker thread (fingerprint_feed.h). */
#include "graph/fingerprint_feed.h"

#include "bolt/packstream.h"
#include "bolt/value.h"
#include "common/buffer.h"
#include "common/mem.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct FingerprintFeed {
    Fingerprint *fingerprint;
    pthread_t thread;
    bool running;      /* the thread was started and not joined yet */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    Buffer filling;    /* the scan thread's batch: kind u8, length u32 (host order), bytes */
    Buffer handed;     /* the batch handed to the worker, empty when it took it */
    bool handedFull;   /* handed holds a batch the worker has not taken yet */
    bool closing;      /* no more batches: the worker ends once handed is done */
    bool stop;         /* end now, discarding (fingerprintFeedFree) */
    bool failed;
    ErrDetail failure; /* the worker's first error */
};

/* Adds one batch's records to the fingerprint. */
static ErrCode feedApply(FingerprintFeed *feed, const Buffer *batch, Arena *arena)
{
    size_t pos = 0;
    while (pos < batch->length) {
        uint8_t kind = batch->data[pos];
        uint32_t length;
        memcpy(&length, batch->data + pos + 1, sizeof(length));
        const uint8_t *packed = batch->data + pos + 5;
        pos += 5 + (size_t)length;
        arenaReset(arena);
        PackReader reader;
        packReaderInit(&reader, packed, length);
        BoltValue row;
        ErrCode code = unpackValue(&reader, arena, &row);
        if (code != ERR_OK)
            return errSet(ERR_INTERNAL, "a record for the fingerprint does not decode: %s", errLast()->reason);
        const BoltValue *fields = row.as.list.items;
        if (kind == 'N' && row.type == BOLT_LIST && row.as.list.count == 3 && fields[0].type == BOLT_INT)
            code = fingerprintAddNode(feed->fingerprint, fields[0].as.integer, &fields[1], &fields[2]);
        else if (kind == 'R' && row.type == BOLT_LIST && row.as.list.count == 5 && fields[1].type == BOLT_INT
                 && fields[2].type == BOLT_INT && fields[3].type == BOLT_STRING)
            code = fingerprintAddRelationship(feed->fingerprint, fields[1].as.integer, fields[2].as.integer,
                                              fields[3].as.string.data, fields[3].as.string.length, &fields[4]);
        else
            code = errSet(ERR_INTERNAL, "a record for the fingerprint is not a node or relationship");
        if (code != ERR_OK)
            return code;
    }
    return ERR_OK;
}

static void *feedWorker(void *argument)
{
    FingerprintFeed *feed = argument;
    Arena *arena = arenaNew(0);
    Buffer batch;
    bufferInit(&batch);
    pthread_mutex_lock(&feed->lock);
    for (;;) {
        while (!feed->handedFull && !feed->closing && !feed->stop)
            pthread_cond_wait(&feed->changed, &feed->lock);
        if (feed->stop || !feed->handedFull)
            break; /* stopped, or closing with nothing left */
        /* Take the batch; the scan thread may fill the next meanwhile. */
        Buffer taken = feed->handed;
        feed->handed = batch;
        batch = taken;
        feed->handedFull = false;
        pthread_cond_broadcast(&feed->changed);
        bool skip = feed->failed;
        pthread_mutex_unlock(&feed->lock);
        ErrCode code = skip ? ERR_OK : feedApply(feed, &batch, arena);
        bufferClear(&batch);
        pthread_mutex_lock(&feed->lock);
        if (code != ERR_OK && !feed->failed) {
            feed->failed = true;
            feed->failure = errSave();
        }
    }
    pthread_mutex_unlock(&feed->lock);
    bufferFree(&batch);
    arenaFree(arena);
    return NULL;
}

ErrCode fingerprintFeedStart(FingerprintFeed **out, Fingerprint *fingerprint)
{
    *out = NULL;
    FingerprintFeed *feed = memCalloc(1, sizeof(*feed));
    feed->fingerprint = fingerprint;
    bufferInit(&feed->filling);
    bufferInit(&feed->handed);
    pthread_mutex_init(&feed->lock, NULL);
    pthread_cond_init(&feed->changed, NULL);
    if (pthread_create(&feed->thread, NULL, feedWorker, feed) != 0) {
        pthread_mutex_destroy(&feed->lock);
        pthread_cond_destroy(&feed->changed);
        free(feed);
        return errSet(ERR_INTERNAL, "cannot start the fingerprint's thread");
    }
    feed->running = true;
    *out = feed;
    return ERR_OK;
}

/* Hands the filling batch to the worker, waiting while it holds one. */
static ErrCode feedHandOver(FingerprintFeed *feed)
{
    pthread_mutex_lock(&feed->lock);
    while (feed->handedFull && !feed->failed)
        pthread_cond_wait(&feed->changed, &feed->lock);
    bool failed = feed->failed;
    if (!failed) {
        Buffer empty = feed->handed;
        feed->handed = feed->filling;
        feed->filling = empty;
        bufferClear(&feed->filling);
        feed->handedFull = true;
        pthread_cond_broadcast(&feed->changed);
    }
    ErrDetail failure = feed->failure;
    pthread_mutex_unlock(&feed->lock);
    return failed ? errRestore(&failure) : ERR_OK;
}

ErrCode fingerprintFeedAdd(FingerprintFeed *feed, uint8_t kind, const uint8_t *packed, size_t length)
{
    uint32_t length32 = (uint32_t)length;
    bufferAppendByte(&feed->filling, kind);
    bufferAppend(&feed->filling, &length32, sizeof(length32));
    bufferAppend(&feed->filling, packed, length);
    if (feed->filling.length < FINGERPRINT_FEED_BATCH)
        return ERR_OK;
    return feedHandOver(feed);
}

ErrCode fingerprintFeedFinish(FingerprintFeed *feed)
{
    ErrCode code = feed->filling.length ? feedHandOver(feed) : ERR_OK;
    pthread_mutex_lock(&feed->lock);
    feed->closing = true;
    pthread_cond_broadcast(&feed->changed);
    pthread_mutex_unlock(&feed->lock);
    pthread_join(feed->thread, NULL);
    feed->running = false;
    if (code == ERR_OK && feed->failed)
        code = errRestore(&feed->failure);
    return code;
}

void fingerprintFeedFree(FingerprintFeed *feed)
{
    if (!feed)
        return;
    if (feed->running) {
        pthread_mutex_lock(&feed->lock);
        feed->stop = true;
        pthread_cond_broadcast(&feed->changed);
        pthread_mutex_unlock(&feed->lock);
        pthread_join(feed->thread, NULL);
    }
    pthread_mutex_destroy(&feed->lock);
    pthread_cond_destroy(&feed->changed);
    bufferFree(&feed->filling);
    bufferFree(&feed->handed);
    free(feed);
}
