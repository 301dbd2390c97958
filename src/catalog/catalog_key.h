/* Keys of an encrypted repository (issue 14, docs/encryption.md): the
 * master key named by the settings (a key file, or a passphrase with the
 * repository's key record, stored through the catalog's Storage so that it
 * works on a local path and on object storage alike), a backup's data key
 * unwrapped into its CatEntry with the manifest authenticated and opened,
 * and the re-wrapping of --rotate-key. No key byte reaches a message. */
#ifndef NBK_CATALOG_CATALOG_KEY_H
#define NBK_CATALOG_CATALOG_KEY_H

#include "catalog/catalog.h"
#include "common/config.h"
#include "common/error.h"
#include "crypto/keys.h"

#include <stdbool.h>

/* The passphrase's key record at the repository's root (57 bytes,
 * docs/encryption.md section 1.3). */
#define CAT_KEY_RECORD_NAME "nbk-key-record"

/* True when the settings name a master key (a key file or a passphrase). */
bool catKeyConfigured(const Config *config);
/* True when the settings name a passphrase (which needs the repository). */
bool catKeyNeedsRepository(const Config *config);

/* The master key of the settings into *out, *present set. No key set:
 * ERR_OK with *present false. Both a key file and a passphrase:
 * CONFIG_INVALID. A passphrase needs catalog (its key record): with
 * createRecord a missing record is created (Argon2id cost from
 * BACKUP_ENCRYPTION_ARGON2_*); without, a missing record is
 * BACKUP_KEY_INVALID. A passphrase that gives another key than the
 * record's is BACKUP_KEY_INVALID. Wipe *out with cryptoMasterKeyWipe. */
ErrCode catMasterKeyConfigured(const Config *config, Catalog *catalog, bool createRecord, CryptoMasterKey *out,
                               bool *present);
/* BACKUP_ENCRYPTION_NEW_KEY_FILE for --rotate-key (*present false when unset). */
ErrCode catNewMasterKeyConfigured(const Config *config, CryptoMasterKey *out, bool *present);

/* The key record of the repository: *found false when there is none;
 * BACKUP_CORRUPTED for a damaged one. */
ErrCode catKeyRecordLoad(Catalog *catalog, CryptoKeyRecord *out, bool *found);
/* Stores a new record; never replaces one (BACKUP_IO_FAILED if one appeared). */
ErrCode catKeyRecordSave(Catalog *catalog, const CryptoKeyRecord *record);

/* True when entry's manifest is an encrypted one. */
bool catEntryEncrypted(const CatEntry *entry);
/* Makes an encrypted backup readable: unwraps its data key with key (NULL:
 * BACKUP_KEY_REQUIRED; another key: BACKUP_KEY_INVALID), reads the
 * archive's key section and authenticates the manifest with it
 * (BACKUP_CORRUPTED "manifest authentication failed" when a protected field
 * was changed), then opens its private part into entry->manifest. Nothing
 * is read from the archive beyond its first 57 bytes. ERR_OK at once for an
 * unencrypted or already unlocked entry. */
ErrCode catEntryUnlock(Catalog *catalog, CatEntry *entry, const CryptoMasterKey *key);

/* --rotate-key: every encrypted backup's data key re-wrapped from oldKey to
 * newKey, one manifest at a time (catManifestUpdate: both copies written
 * whole and renamed into place, so a crash leaves each manifest wrapped by
 * one of the keys). Archives and MACs do not change. A backup already
 * wrapped by newKey is left alone, so an interrupted run is resumed by
 * running it again. In a dry run nothing is written. */
typedef enum {
    CAT_ROTATE_REWRAPPED,   /* (dry run: would be) */
    CAT_ROTATE_ALREADY,     /* already wrapped by the new key */
    CAT_ROTATE_UNENCRYPTED, /* a backup without encryption: nothing to do */
    CAT_ROTATE_FAILED,      /* errLast() says why (another key, a damaged manifest) */
} CatRotateOutcome;

typedef struct {
    size_t rewrapped, already, unencrypted, failed;
} CatRotateResult;

typedef void (*CatRotateReport)(const char *id, CatRotateOutcome outcome, void *payload);

/* ERR_OK when every encrypted backup is now wrapped by newKey; otherwise
 * the code of the last failure (BACKUP_KEY_INVALID, BACKUP_CORRUPTED...),
 * after trying every backup. */
ErrCode catRotateKey(Catalog *catalog, const CryptoMasterKey *oldKey, const CryptoMasterKey *newKey, bool dryRun,
                     CatRotateReport report, void *payload, CatRotateResult *out);

#endif
