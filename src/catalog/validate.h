/* Repository validation as a service: one backup's archive checked against
 * its manifest (SHA-256, then for a logical backup every block and record,
 * the counts, the counts per label and type, orphaned relationships and the
 * content fingerprint), and the verdict recorded in the manifest (VALIDATED
 * or CORRUPTED) so that listing and retention see it. Nothing is printed:
 * every contract line reaches the front end as an event; the outcome is the
 * returned code (errLast() for the reason).
 *
 * Locks: the backup's own lock, shared, while reading (a deletion waits);
 * catManifestUpdate's own locking for the verdict. */
#ifndef NBK_CATALOG_VALIDATE_H
#define NBK_CATALOG_VALIDATE_H

#include "archive/archive.h"
#include "archive/archive_content.h"
#include "archive/chain.h"
#include "catalog/catalog.h"
#include "common/error.h"
#include "crypto/keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A checksum comparison's figures, for the contract's mismatch lines. */
typedef struct {
    bool mismatch;      /* true: expected and got are set */
    char expected[72];  /* the manifest's SHA-256, or "(none)" */
    char got[65];       /* the archive's */
} CatChecksum;

/* Recomputes the SHA-256 of entry's archive and compares it with the
 * manifest, reading it through the catalog's storage. archivePath receives
 * the archive's path (its storage name on a storage without paths), for
 * messages and for the readers that still take paths. BACKUP_CORRUPTED when
 * the manifest is damaged, the archive is missing, or the sums differ
 * (out->mismatch then); other codes when the archive cannot be read. Prints
 * nothing. Shared by validation and restore. */
ErrCode catChecksumVerify(const Catalog *catalog, const CatEntry *entry, char *archivePath, size_t archivePathSize,
                          CatChecksum *out);

/* Where entry's logical archive is: "<id>/<archive file>" of the catalog's
 * storage, written into name, shown in messages as archivePath (what
 * catChecksumVerify gave; NULL = the name). BACKUP_CORRUPTED when the
 * manifest is damaged or names no archive. */
ErrCode catArchiveLocation(const Catalog *catalog, const CatEntry *entry, const char *archivePath, char *name,
                           size_t nameSize, ArcLocation *out);

/* The links of a loaded chain (catChainLoad) ready for archive/chain.h:
 * each encrypted link unlocked with key (catEntryUnlock: BACKUP_KEY_REQUIRED
 * without one, BACKUP_KEY_INVALID with another), its archive's location and
 * its manifest's SHA-256. The links point into chain, which must outlive
 * them. */
typedef struct {
    ArcChainLink *links;
    char (*names)[512];
    size_t count;
} CatChainLinks;
ErrCode catChainLinksOpen(Catalog *catalog, CatChain *chain, const CryptoMasterKey *key, CatChainLinks *out);
void catChainLinksFree(CatChainLinks *links);

/* True when manifest describes a backup made with the dump method. */
bool catManifestIsDump(const Manifest *manifest);

typedef enum {
    CAT_VALIDATE_STARTING,             /* the backup exists and is locked */
    CAT_VALIDATE_CHECKSUM_PASSED,
    CAT_VALIDATE_BLOCKS_PASSED,        /* nodes, relationships, schemaItems set */
    CAT_VALIDATE_COUNTS_PASSED,
    CAT_VALIDATE_LABEL_COUNTS_SKIPPED, /* the manifest has none (an older backup) */
    CAT_VALIDATE_LABEL_COUNTS_PASSED,  /* labels, types set */
    CAT_VALIDATE_ORPHANS_PASSED,
    /* The backup is corrupted: checksum set on a mismatch, otherwise
     * errLast() holds the reason. Sent once, before the verdict is recorded. */
    CAT_VALIDATE_CORRUPTED,
    CAT_VALIDATE_VERDICT_NOT_RECORDED, /* text: why (the validation's own verdict stands) */
    /* An encrypted backup validated without its key: the ciphertext's
     * SHA-256 and every section's framing and CRC-32C passed (blocks set);
     * the content (records, counts) was NOT checked. */
    CAT_VALIDATE_CONTENT_NOT_CHECKED,
    CAT_VALIDATE_KEY_ACCEPTED,         /* text: the key id; the manifest is authenticated */
    CAT_VALIDATE_DAMAGE_LOCATED,       /* text: the first damaged section, after a checksum mismatch */
    /* A differential (catalog.h, catChainLoad): every link of its chain
     * checked (parent found, link digest, status, depth, database). */
    CAT_VALIDATE_CHAIN_LINKS_PASSED,   /* links: how many backups the chain holds */
    CAT_VALIDATE_CHAIN_ARCHIVE_PASSED, /* text: an ancestor whose archive checksum passed */
    /* The chain's merged content was not compared with the manifest (no
     * validateChain reader, or encrypted without the key): no VALIDATED
     * verdict is recorded. text: why. */
    CAT_VALIDATE_CHAIN_CONTENT_NOT_CHECKED,
} CatValidateEventKind;

typedef struct {
    CatValidateEventKind kind;
    const char *backupId;
    uint64_t nodes, relationships, schemaItems; /* BLOCKS_PASSED */
    size_t labels, types;                       /* LABEL_COUNTS_PASSED */
    const CatChecksum *checksum;                /* CORRUPTED by a checksum mismatch, else NULL */
    const char *text;                           /* VERDICT_NOT_RECORDED, KEY_ACCEPTED */
    uint64_t bytes;                             /* CONTENT_NOT_CHECKED: the archive's size */
    size_t links;                               /* CHAIN_LINKS_PASSED */
} CatValidateEvent;

typedef struct {
    void (*onEvent)(const CatValidateEvent *event, void *payload); /* may be NULL */
    void *payload;
} CatValidateEvents;

/* The dump method's own checks after the checksum passed (the dump files,
 * neo4j-admin's inspection, --deep). Sets *reported when it sent the
 * contract's corrupted block itself. Supplied by the front end until the
 * dump checks live below it. */
typedef ErrCode (*CatValidateDumpFn)(void *payload, Catalog *catalog, const CatEntry *entry,
                                     const char *archivePath, bool *reported);

/* A differential's merged content: reads the chain (links unlocked when a
 * key was given) as one archive into content (archive/chain.h's
 * ArcChainReader), which catValidate then compares with the differential's
 * manifest like a full backup's (counts, per label and type, orphans,
 * fingerprint). Supplied by a front end that links the chain reader. */
typedef ErrCode (*CatValidateChainFn)(void *payload, Catalog *catalog, const CatChain *chain,
                                      ArchiveContent *content);

typedef struct {
    Catalog *catalog;
    const char *backupId;   /* checked with catIdCheck */
    bool dryRun;            /* validate, but record no verdict */
    const char *lockPurpose; /* NULL: "backup --validate" */
    CatValidateDumpFn validateDump; /* NULL: a dump backup fails with CONFIG_INVALID */
    void *validateDumpPayload;
    /* Borrowed, may be NULL: the master key. An encrypted backup without
     * it gets only the checks that need no key (CONTENT_NOT_CHECKED, no
     * verdict recorded); with another key: BACKUP_KEY_INVALID. */
    const CryptoMasterKey *masterKey;
    /* NULL: a differential gets its links, every link's checksum and its own
     * archive's framing checked, CHAIN_CONTENT_NOT_CHECKED, and no VALIDATED
     * verdict (a broken chain is still recorded CORRUPTED). */
    CatValidateChainFn validateChain;
    void *validateChainPayload;
} CatValidateRequest;

typedef struct {
    /* The contract's corrupted block was already sent (as CAT_VALIDATE_CORRUPTED
     * or by validateDump): the front end shows no second failure block. */
    bool reported;
    bool isDump;
    bool contentNotChecked;  /* encrypted, no key: only the ciphertext was checked */
    bool chainBroken;        /* a differential whose chain is broken (errLast() says where) */
} CatValidateResult;

/* Validates one backup; a differential with every link of its chain: the
 * links (catChainLoad), each ancestor's archive checksum (catVerifyArchive:
 * a recorded validation of an archive unchanged since is trusted; a mismatch
 * is recorded CORRUPTED on that ancestor unless a dry run), its own archive,
 * and the merged content (validateChain). ERR_OK: valid (and recorded VALIDATED unless a dry
 * run). BACKUP_CORRUPTED: corrupted (recorded CORRUPTED unless a dry run);
 * BACKUP_NOT_FOUND, ERR_USAGE (a bad id), BACKUP_LOCKED, BACKUP_IO_FAILED... */
ErrCode catValidate(const CatValidateRequest *request, CatValidateResult *out, const CatValidateEvents *events);

/* The contract's lines for an event, through common/log ("Checksum
 * verification: PASSED", the corrupted block...); payload unused. Front ends
 * install it as CatValidateEvents.onEvent. */
void catValidateReportEvent(const CatValidateEvent *event, void *payload);
/* The contract's block for a corrupted backup under headline: the checksum
 * mismatch lines when expected and got are given, else errLast()'s reason. */
void catValidateReportCorrupted(const char *headline, const char *expected, const char *got);

#endif
