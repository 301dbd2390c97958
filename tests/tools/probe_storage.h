/* What the storage and catalog probes share: opening a storage on a
 * location the way their e2e tests describe it (s3:// from the AWS_*
 * variables plus the NBK_S3_* knobs of the tests, or a directory), and
 * printing a failure with its exit status. Static functions in a header:
 * every file in tests/tools is an executable of its own. */
#ifndef NBK_TESTS_TOOLS_PROBE_STORAGE_H
#define NBK_TESTS_TOOLS_PROBE_STORAGE_H

#include "common/error.h"
#include "storage/posix.h"
#include "storage/s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(ErrCode code)
{
    fprintf(stderr, "ERROR: %s: %s\n", errName(code), errLast()->reason);
    return errExitStatus(code);
}

static const char *environmentLookup(const char *key, void *payload)
{
    (void)payload;
    return getenv(key);
}

static ErrCode openStorage(const char *text, Storage **out)
{
    StorageLocation location;
    ErrCode result = storageLocationParse(text, &location);
    if (result != ERR_OK)
        return result;
    if (location.kind == STORAGE_LOCATION_POSIX)
        return storagePosixNew(location.path, out);
    S3Config config;
    s3ConfigDefaults(&config);
    snprintf(config.bucket, sizeof(config.bucket), "%s", location.bucket);
    snprintf(config.prefix, sizeof(config.prefix), "%s", location.prefix);
    result = s3ConfigFromLookup(&config, environmentLookup, NULL);
    if (result != ERR_OK)
        return result;
    const char *value;
    if ((value = getenv("NBK_S3_URI_STYLE")) && strcmp(value, "path") == 0)
        config.uriStyle = S3_URI_STYLE_PATH;
    if ((value = getenv("NBK_S3_PART_SIZE")))
        config.partSize = strtoull(value, NULL, 10);
    if ((value = getenv("NBK_S3_PARTS_IN_FLIGHT")))
        config.partsInFlight = (unsigned)strtoul(value, NULL, 10);
    if ((value = getenv("NBK_S3_ATTEMPTS")))
        config.attempts = (unsigned)strtoul(value, NULL, 10);
    if ((value = getenv("NBK_S3_RETRY_BASE_MS")))
        config.retryBaseMs = atoi(value);
    if ((value = getenv("NBK_S3_CONNECT_TIMEOUT_MS")))
        config.connectTimeoutMs = atoi(value);
    return storageS3New(&config, out);
}

#endif
