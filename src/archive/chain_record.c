/* The small record parsers of differentials (chain.h): deletion records
 * and the key of a node or relationship record. Both read untrusted bytes;
 * tests/fuzz/chain_record_fuzz.c covers them. */
#include "archive/chain.h"

#include "bolt/packstream.h"

#include <string.h>

void arcDeletionPack(Buffer *out, ArcRecordKind entity, int64_t key)
{
    packListHeader(out, 2);
    packString(out, entity == ARC_RECORD_NODE ? "N" : "R", 1);
    packInt(out, key);
}

/* A PackStream integer at data[*pos], in any of its encodings; false when
 * the bytes there are something else or run short. */
static bool chainReadInt(const uint8_t *data, size_t length, size_t *pos, int64_t *out)
{
    if (*pos >= length)
        return false;
    uint8_t marker = data[(*pos)++];
    if (marker < 0x80 || marker >= 0xF0) {
        *out = (int8_t)marker;
        return true;
    }
    size_t width = marker == 0xC8 ? 1 : marker == 0xC9 ? 2 : marker == 0xCA ? 4 : marker == 0xCB ? 8 : 0;
    if (width == 0 || length - *pos < width)
        return false;
    uint64_t value = 0;
    for (size_t index = 0; index < width; index++)
        value = value << 8 | data[*pos + index];
    *pos += width;
    if (width == 1)
        *out = (int8_t)value;
    else if (width == 2)
        *out = (int16_t)value;
    else if (width == 4)
        *out = (int32_t)value;
    else
        *out = (int64_t)value;
    return true;
}

/* The list header at data[*pos]: its element count. */
static bool chainReadListHeader(const uint8_t *data, size_t length, size_t *pos, uint64_t *count)
{
    if (*pos >= length)
        return false;
    uint8_t marker = data[(*pos)++];
    if ((marker & 0xF0) == 0x90) {
        *count = marker & 0x0F;
        return true;
    }
    size_t width = marker == 0xD4 ? 1 : marker == 0xD5 ? 2 : marker == 0xD6 ? 4 : 0;
    if (width == 0 || length - *pos < width)
        return false;
    uint64_t value = 0;
    for (size_t index = 0; index < width; index++)
        value = value << 8 | data[*pos + index];
    *pos += width;
    *count = value;
    return true;
}

ErrCode arcDeletionParse(const uint8_t *packed, size_t length, ArcRecordKind *entity, int64_t *key)
{
    size_t pos = 0;
    uint64_t count = 0;
    if (!chainReadListHeader(packed, length, &pos, &count) || count != 2 || length - pos < 2
        || packed[pos] != 0x81 || (packed[pos + 1] != 'N' && packed[pos + 1] != 'R'))
        return errSet(BACKUP_CORRUPTED, "a deletion record is not [\"N\" | \"R\", key]");
    *entity = packed[pos + 1] == 'N' ? ARC_RECORD_NODE : ARC_RECORD_RELATIONSHIP;
    pos += 2;
    if (!chainReadInt(packed, length, &pos, key) || pos != length)
        return errSet(BACKUP_CORRUPTED, "a deletion record is not [\"N\" | \"R\", key]");
    return ERR_OK;
}

ErrCode arcRecordKey(const uint8_t *packed, size_t length, int64_t *key)
{
    size_t pos = 0;
    uint64_t count = 0;
    if (!chainReadListHeader(packed, length, &pos, &count) || count < 1 || !chainReadInt(packed, length, &pos, key))
        return errSet(BACKUP_CORRUPTED, "a record does not start with its key");
    return ERR_OK;
}
