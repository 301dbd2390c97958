/* Fuzz target: arbitrary bytes as a manifest must never crash, leak or hang.
 * Whatever parses must serialize, and the serialized text must parse again
 * WITH checksum verification and serialize to the same text (the canonical
 * form is stable), so load/save can never turn a good manifest bad; the
 * link digest a differential keeps of its parent (backup_type, parent,
 * chain_depth are parsed here too) is stable the same way.
 * Build: cmake -DNBK_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: ./manifest_fuzz corpus/ */
#include "catalog/manifest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Manifest *manifest = NULL;
    /* Verified parsing: almost always rejected, but must stay safe. */
    if (manifestParse((const char *)data, size, MANIFEST_PARSE_VERIFY, &manifest) == ERR_OK)
        manifestFree(manifest);
    manifest = NULL;
    if (manifestParse((const char *)data, size, 0, &manifest) != ERR_OK)
        return 0;
    char *text = manifestSerialize(manifest);
    Manifest *again = NULL;
    if (manifestParse(text, strlen(text), MANIFEST_PARSE_VERIFY, &again) != ERR_OK)
        abort(); /* a manifest we wrote failed our own verification */
    char *textAgain = manifestSerialize(again);
    if (strcmp(text, textAgain) != 0)
        abort(); /* serialization is not stable */
    /* A differential names its parent by this digest: it must survive a
     * save and load, or re-saving a parent would break its children. */
    char link[65], linkAgain[65];
    manifestLinkSha256(manifest, link);
    manifestLinkSha256(again, linkAgain);
    if (strcmp(link, linkAgain) != 0)
        abort();
    free(textAgain);
    free(text);
    manifestFree(again);
    manifestFree(manifest);
    return 0;
}
