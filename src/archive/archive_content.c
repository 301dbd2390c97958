/* Releasing an archive's content facts (archive_content.h). */
#include "archive/archive_content.h"

#include <stddef.h>

void arcContentFree(ArchiveContent *content)
{
    if (!content)
        return;
    arenaFree(content->arena);
    content->arena = NULL;
    graphCountsFree(&content->counts);
    content->schemaItems = NULL;
    content->schemaCount = 0;
}
