/* Token checks of the HTTP API, free of any server state. */
#include "api/api.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The status page's cookie is an HMAC of this label under the token: it
 * proves knowledge of the token without being it. */
#define API_SESSION_LABEL "neo4j-backup status page v1"

bool apiTokenEqual(const char *presented, size_t presentedLength, const char *token)
{
    if (!presented || !token)
        return false;
    unsigned char presentedDigest[SHA256_DIGEST_LENGTH];
    unsigned char tokenDigest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)presented, presentedLength, presentedDigest);
    SHA256((const unsigned char *)token, strlen(token), tokenDigest);
    bool equal = CRYPTO_memcmp(presentedDigest, tokenDigest, sizeof(tokenDigest)) == 0;
    OPENSSL_cleanse(presentedDigest, sizeof(presentedDigest));
    OPENSSL_cleanse(tokenDigest, sizeof(tokenDigest));
    return equal;
}

const char *apiBearerCredentials(const char *header)
{
    if (!header)
        return NULL;
    while (*header == ' ' || *header == '\t')
        header++;
    if (strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
        return NULL;
    const char *credentials = header + 6;
    while (*credentials == ' ' || *credentials == '\t')
        credentials++;
    return credentials[0] ? credentials : NULL;
}

void apiSessionCookieValue(const char *token, char out[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digestLength = 0;
    HMAC(EVP_sha256(), token, (int)strlen(token), (const unsigned char *)API_SESSION_LABEL,
         strlen(API_SESSION_LABEL), digest, &digestLength);
    for (unsigned int index = 0; index < digestLength && index < 32; index++)
        snprintf(out + index * 2, 3, "%02x", digest[index]);
    out[64] = '\0';
    OPENSSL_cleanse(digest, sizeof(digest));
}

static int apiHexValue(char digit)
{
    if (digit >= '0' && digit <= '9')
        return digit - '0';
    if (digit >= 'a' && digit <= 'f')
        return digit - 'a' + 10;
    if (digit >= 'A' && digit <= 'F')
        return digit - 'A' + 10;
    return -1;
}

bool apiFormField(const char *body, size_t length, const char *name, char *out, size_t outSize)
{
    size_t nameLength = strlen(name);
    size_t position = 0;
    while (position < length) {
        const char *pair = body + position;
        const char *end = memchr(pair, '&', length - position);
        size_t pairLength = end ? (size_t)(end - pair) : length - position;
        position += pairLength + 1;
        if (pairLength <= nameLength || memcmp(pair, name, nameLength) != 0 || pair[nameLength] != '=')
            continue;
        const char *value = pair + nameLength + 1;
        size_t valueLength = pairLength - nameLength - 1;
        size_t written = 0;
        for (size_t index = 0; index < valueLength; index++) {
            char decoded = value[index];
            if (decoded == '+') {
                decoded = ' ';
            } else if (decoded == '%') {
                if (index + 2 >= valueLength)
                    return false;
                int high = apiHexValue(value[index + 1]);
                int low = apiHexValue(value[index + 2]);
                if (high < 0 || low < 0)
                    return false;
                decoded = (char)(high * 16 + low);
                index += 2;
            }
            if (decoded == '\0' || written + 1 >= outSize)
                return false;
            out[written++] = decoded;
        }
        out[written] = '\0';
        return true;
    }
    return false;
}
