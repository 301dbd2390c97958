/* SHA-256 of memory for the hot paths that hash one small record at a time
 * (a differential's content hashes, the content fingerprint). OpenSSL 3's
 * one-shot calls (EVP_Digest, SHA256()) fetch the algorithm and allocate a
 * context per call, behind a lock: measured as 15-20 % of a differential
 * backup's CPU. Here the algorithm is fetched once per process and a context
 * kept per thread (freed when the thread ends), so a call takes no lock. */
#ifndef NBK_COMMON_SHA256_H
#define NBK_COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES 32

/* Aborts only if libcrypto cannot hash memory at all. */
void sha256Digest(const void *data, size_t length, uint8_t out[SHA256_BYTES]);

#endif
