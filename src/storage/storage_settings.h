/* The repository's storage from the settings: BACKUP_STORAGE_PATH names a
 * directory (posix driver) or s3://bucket/prefix (S3 driver, configured from
 * the AWS_* and BACKUP_S3_* settings). The one place that turns settings into
 * a Storage, for every front end; it reads the Config it is given, never the
 * environment. */
#ifndef NBK_STORAGE_STORAGE_SETTINGS_H
#define NBK_STORAGE_STORAGE_SETTINGS_H

#include "common/config.h"
#include "storage/s3.h"
#include "storage/storage.h"

/* The S3 driver's configuration for location (an s3:// one): credentials
 * (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY[_FILE] + AWS_SESSION_TOKEN[_FILE],
 * else the AWS_PROFILE section of AWS_SHARED_CREDENTIALS_FILE), region,
 * endpoint, addressing, CA file, server-side encryption, storage class and
 * part sizes. CONFIG_INVALID naming the setting when one is wrong; the
 * secrets are wiped from the caller's struct with explicit_bzero once used
 * (storageS3New copies them). */
ErrCode storageS3ConfigFromSettings(const Config *config, const StorageLocation *location, S3Config *out);

/* Opens the storage BACKUP_STORAGE_PATH names. create: a missing directory
 * is created (posix; object storage has nothing to create). Errors carry
 * the action "Check BACKUP_STORAGE_PATH" (or the S3 setting at fault). */
ErrCode storageOpenConfigured(const Config *config, bool create, Storage **out);

/* The same for any location text (BACKUP_COPY_PATH): a directory or
 * s3://bucket/prefix, the S3 driver configured from the same AWS_* and
 * BACKUP_S3_* settings. settingName names the setting in the action of an
 * error. */
ErrCode storageOpenLocation(const Config *config, const char *text, const char *settingName, bool create,
                            Storage **out);

#endif
