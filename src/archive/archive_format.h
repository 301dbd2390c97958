/* Private to src/archive (and its unit test): the constants of the byte
 * format that docs/archive-format.md specifies, shared by writer and reader,
 * and the CRC-32C used for section checksums. */
#ifndef NBK_ARCHIVE_ARCHIVE_FORMAT_H
#define NBK_ARCHIVE_ARCHIVE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define ARC_MAGIC "NBKARCH1"
#define ARC_MAGIC_LENGTH 8
#define ARC_FORMAT_VERSION 1
/* Format 2: encrypted per section, no outer compression (section 9 of
 * docs/archive-format.md). Both magics share the 7-byte family "NBKARCH". */
#define ARC_MAGIC_ENCRYPTED "NBKARCH2"
#define ARC_FORMAT_VERSION_ENCRYPTED 2
#define ARC_MAGIC_FAMILY_LENGTH 7
/* Magic + u16 format version, in front of the first section. */
#define ARC_PREAMBLE_LENGTH (ARC_MAGIC_LENGTH + 2)

#define ARC_SECTION_HEADER 'H'
#define ARC_SECTION_BLOCK 'B'
#define ARC_SECTION_FOOTER 'F'
/* Format 2 only: the plain key section, first after the preamble. */
#define ARC_SECTION_KEY 'K'
/* K payload: key section format u8, block compression u8, secretstream
 * header (24), key check (16). */
#define ARC_KEY_SECTION_FORMAT 1
#define ARC_KEY_CHECK_LENGTH 16
#define ARC_KEY_PAYLOAD_LENGTH (2 + 24 + ARC_KEY_CHECK_LENGTH)
/* Block compression codes of the K payload. */
#define ARC_KEY_COMPRESSION_NONE 0
#define ARC_KEY_COMPRESSION_GZIP 1
#define ARC_KEY_COMPRESSION_ZSTD 2
/* kind (1) + u32 payload length, in front of every payload. */
#define ARC_SECTION_PREFIX_LENGTH 5
/* u32 CRC-32C after every payload. */
#define ARC_SECTION_CRC_LENGTH 4
/* kind (1) + u32 length, in front of every record inside a block. */
#define ARC_RECORD_PREFIX_LENGTH 5
/* u32 record count at the start of a block payload. */
#define ARC_BLOCK_COUNT_LENGTH 4
/* schema, node, relationship, block counts and inner offset (u64 each) + digest. */
#define ARC_FOOTER_PAYLOAD_LENGTH (5 * 8 + 32)

/* Largest section payload a reader accepts (and so the largest record a
 * writer can store): bounds the memory a hostile file can make us use. */
#define ARC_MAX_SECTION_LENGTH (256u * 1024u * 1024u)
#define ARC_DEFAULT_BLOCK_SIZE (1024u * 1024u)
#define ARC_MIN_BLOCK_SIZE 4096u
#define ARC_MAX_BLOCK_SIZE (64u * 1024u * 1024u)

#define ARC_DEFAULT_ZSTD_LEVEL 3
#define ARC_DEFAULT_GZIP_LEVEL 6

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and
 * final xor 0xFFFFFFFF). Pass crc = 0 to start; feed the result back in to
 * continue over more bytes. Uses SSE4.2 when the CPU has it. */
uint32_t arcCrc32c(uint32_t crc, const void *data, size_t length);
/* The table-driven version, always available (the test compares both). */
uint32_t arcCrc32cSoftware(uint32_t crc, const void *data, size_t length);

static inline uint32_t arcReadU32BE(const uint8_t *bytes)
{
    return ((uint32_t)bytes[0] << 24) | ((uint32_t)bytes[1] << 16) | ((uint32_t)bytes[2] << 8) |
           (uint32_t)bytes[3];
}

static inline uint64_t arcReadU64BE(const uint8_t *bytes)
{
    return ((uint64_t)arcReadU32BE(bytes) << 32) | arcReadU32BE(bytes + 4);
}

static inline void arcWriteU32BE(uint8_t *bytes, uint32_t value)
{
    bytes[0] = (uint8_t)(value >> 24);
    bytes[1] = (uint8_t)(value >> 16);
    bytes[2] = (uint8_t)(value >> 8);
    bytes[3] = (uint8_t)value;
}

#endif
