/* Chain checks inside the catalog (chain.c for catalog.c). Internal to
 * src/catalog/. */
#ifndef NBK_CATALOG_CHAIN_INTERNAL_H
#define NBK_CATALOG_CHAIN_INTERNAL_H

#include "catalog/catalog.h"

/* catFind without the chain check (what catFind and the chain walk use). */
ErrCode catFindOne(Catalog *catalog, const char *id, CatEntry *out);
/* Sets chainProblem of every differential of list whose chain is broken,
 * from the listed manifests alone (no read). */
void catChainCheckList(CatList *list);
/* Sets entry->chainProblem when entry is a differential whose chain is
 * broken, walking its parents (a manifest read per link). errLast() is left
 * as it was. */
void catChainCheckEntry(Catalog *catalog, CatEntry *entry);

#endif
