/* A content fingerprint (fingerprint.h) computed on a worker thread from
 * packed records, so that a backup's scan thread only copies each record
 * while the canonical forms, their SHA-256 and the node-hash table are done
 * beside it: the scan thread spends most of a backup waiting for the server
 * between two pulls, and this work otherwise sits in series with it.
 *
 * Records go in batches of about FINGERPRINT_FEED_BATCH bytes, in the order
 * added (nodes before the relationships that need them, as the archive
 * promises); at most two batches exist at a time, so memory is about twice
 * the batch size beyond the fingerprint's own. */
#ifndef NBK_GRAPH_FINGERPRINT_FEED_H
#define NBK_GRAPH_FINGERPRINT_FEED_H

#include "common/error.h"
#include "graph/fingerprint.h"

#include <stddef.h>
#include <stdint.h>

#define FINGERPRINT_FEED_BATCH ((size_t)1 << 20)

typedef struct FingerprintFeed FingerprintFeed;

/* Starts the worker on fingerprint, which it owns until fingerprintFeedFinish
 * or fingerprintFeedFree returns. ERR_INTERNAL when no thread can be made. */
ErrCode fingerprintFeedStart(FingerprintFeed **out, Fingerprint *fingerprint);
/* Queues a node ('N') or relationship ('R') record: PackStream
 * [key, labels, properties] or [key, start, end, type, properties]. Blocks
 * while two batches are pending. Returns the worker's error once it failed. */
ErrCode fingerprintFeedAdd(FingerprintFeed *feed, uint8_t kind, const uint8_t *packed, size_t length);
/* Waits until every record is added to the fingerprint and stops the
 * worker; its first error, if any (errLast() as the worker set it). */
ErrCode fingerprintFeedFinish(FingerprintFeed *feed);
/* Stops the worker (discarding what is queued) and frees the feed; NULL is
 * ignored; leaves errLast() untouched. */
void fingerprintFeedFree(FingerprintFeed *feed);

#endif
