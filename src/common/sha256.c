/* sha256Digest (sha256.h): one fetched algorithm, one context per thread. */
#include "common/sha256.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>

static EVP_MD *sha256Algorithm;
static pthread_key_t sha256ContextKey;
static pthread_once_t sha256Once = PTHREAD_ONCE_INIT;

static void sha256FreeContext(void *context)
{
    EVP_MD_CTX_free(context);
}

static void sha256Init(void)
{
    sha256Algorithm = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (pthread_key_create(&sha256ContextKey, sha256FreeContext) != 0)
        abort();
}

void sha256Digest(const void *data, size_t length, uint8_t out[SHA256_BYTES])
{
    pthread_once(&sha256Once, sha256Init);
    EVP_MD_CTX *context = pthread_getspecific(sha256ContextKey);
    if (!context) {
        context = EVP_MD_CTX_new();
        if (!context || pthread_setspecific(sha256ContextKey, context) != 0)
            abort();
    }
    unsigned int written = 0;
    if (!sha256Algorithm || EVP_DigestInit_ex2(context, sha256Algorithm, NULL) != 1
        || EVP_DigestUpdate(context, data, length) != 1 || EVP_DigestFinal_ex(context, out, &written) != 1
        || written != SHA256_BYTES)
        abort(); /* SHA-256 of memory cannot fail short of a broken libcrypto */
}
