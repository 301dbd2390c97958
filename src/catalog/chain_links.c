/* catChainLinksOpen (validate.h): a loaded chain made readable. */
#include "archive/chain.h"
#include "catalog/catalog_key.h"
#include "catalog/validate.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

ErrCode catChainLinksOpen(Catalog *catalog, CatChain *chain, const CryptoMasterKey *key, CatChainLinks *out)
{
    memset(out, 0, sizeof(*out));
    if (chain->count == 0)
        return errSet(ERR_INTERNAL, "an empty chain has no links");
    out->links = memCalloc(chain->count, sizeof(*out->links));
    out->names = memCalloc(chain->count, sizeof(*out->names));
    out->count = chain->count;
    for (size_t index = 0; index < chain->count; index++) {
        CatEntry *entry = &chain->links[index];
        ErrCode code = catEntryUnlock(catalog, entry, key);
        if (code == ERR_OK)
            code = catArchiveLocation(catalog, entry, NULL, out->names[index], sizeof(out->names[index]),
                                      &out->links[index].location);
        if (code != ERR_OK) {
            errAddContext("backup %s of the chain", entry->id);
            catChainLinksFree(out);
            return code;
        }
        out->links[index].sha256 = entry->manifest->archive.sha256;
    }
    return ERR_OK;
}

void catChainLinksFree(CatChainLinks *links)
{
    free(links->links);
    free(links->names);
    memset(links, 0, sizeof(*links));
}
