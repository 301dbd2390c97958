/* Fuzz target: fmtPrintable, the one sanitiser between repository text and
 * the operator's terminal. For arbitrary bytes it must never overflow, and
 * its output must be valid UTF-8 without any control character (no escape
 * sequence can survive), fit the buffer, and be a fixed point (sanitising
 * twice changes nothing), so nothing is escaped twice or slips through.
 * Build: cmake -DNBK_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: ./printable_fuzz corpus/ */
#include "common/format.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when text is valid UTF-8 and holds no C0, DEL or C1 control. */
static int printableUtf8(const unsigned char *text)
{
    while (*text) {
        unsigned char lead = *text;
        if (lead < 0x20 || lead == 0x7F)
            return 0;
        size_t length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0;
        if (length == 0 || lead > 0xF4)
            return 0;
        for (size_t index = 1; index < length; index++)
            if ((text[index] & 0xC0) != 0x80)
                return 0;
        if (length == 2 && lead == 0xC2 && text[1] < 0xA0)
            return 0; /* U+0080..U+009F */
        text += length;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *input = malloc(size + 1);
    if (!input)
        return 0;
    memcpy(input, data, size);
    input[size] = '\0';
    size_t outSize = size % 97 + 1; /* small buffers exercise truncation */
    char *out = malloc(outSize);
    char *large = malloc(size * 6 + 1);
    char *again = malloc(size * 6 + 1);
    if (!out || !large || !again)
        abort();
    fmtPrintable(out, outSize, input);
    if (strlen(out) >= outSize || !printableUtf8((const unsigned char *)out))
        abort();
    fmtPrintable(large, size * 6 + 1, input); /* 6 bytes per input byte always fit */
    if (!printableUtf8((const unsigned char *)large))
        abort();
    fmtPrintable(again, size * 6 + 1, large);
    if (strcmp(large, again) != 0)
        abort();
    free(again);
    free(large);
    free(out);
    free(input);
    return 0;
}
