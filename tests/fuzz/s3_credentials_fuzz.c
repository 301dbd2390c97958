/* Fuzz target: arbitrary bytes as the credentials answer of the instance
 * metadata service or a container endpoint (network input). Never a crash,
 * leak or overrun; what is accepted fits its fields with no byte that could
 * break a header line; what is refused leaves no secret behind.
 * Build: cmake -DNBK_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: ./s3_credentials_fuzz corpus/ */
#include "fuzz_text.h"
#include "storage/s3_credentials.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = fuzzExactCopy(data, size);
    if (!body)
        return 0;
    S3Credentials credentials;
    ErrCode result = s3CredentialsAnswerParse(body, size, &credentials);
    if (result == ERR_OK) {
        fuzzCheckText(credentials.accessKey, sizeof(credentials.accessKey), false);
        fuzzCheckText(credentials.secretKey, sizeof(credentials.secretKey), false);
        fuzzCheckText(credentials.sessionToken, sizeof(credentials.sessionToken), true);
    } else if (credentials.secretKey[0] || credentials.sessionToken[0]) {
        abort(); /* a refused answer leaves nothing behind */
    }
    /* The expiry parser on the same bytes, as a string. */
    char text[64];
    size_t length = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, length);
    text[length] = '\0';
    int64_t seconds;
    (void)s3ParseIsoTime(text, &seconds);
    s3CredentialsWipe(&credentials);
    free(body);
    return 0;
}
