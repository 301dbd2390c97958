/* CRC-32C for the archive's section checksums. Software slicing-by-8 runs at
 * a few GB/s; the SSE4.2 instruction, when present, is several times faster,
 * so the checksum never shows next to compression in a profile. */
#include "archive/archive_format.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC32C_HAVE_X86 1
#include <nmmintrin.h>
#endif

#define CRC32C_POLYNOMIAL_REFLECTED 0x82F63B78u

static uint32_t crcTable[8][256];
static bool crcUseHardware;
static pthread_once_t crcInitOnce = PTHREAD_ONCE_INIT;

static void crcInit(void)
{
    for (uint32_t byteValue = 0; byteValue < 256; byteValue++) {
        uint32_t crc = byteValue;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 1) ? (crc >> 1) ^ CRC32C_POLYNOMIAL_REFLECTED : crc >> 1;
        crcTable[0][byteValue] = crc;
    }
    for (uint32_t byteValue = 0; byteValue < 256; byteValue++) {
        uint32_t crc = crcTable[0][byteValue];
        for (int slice = 1; slice < 8; slice++) {
            crc = (crc >> 8) ^ crcTable[0][crc & 0xFF];
            crcTable[slice][byteValue] = crc;
        }
    }
#ifdef CRC32C_HAVE_X86
    __builtin_cpu_init();
    crcUseHardware = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crcSoftwareRaw(uint32_t state, const uint8_t *data, size_t length)
{
    while (length >= 8) {
        /* Little-endian composition, independent of the host's byte order. */
        uint32_t low = state ^ ((uint32_t)data[0] | ((uint32_t)data[1] << 8) |
                                ((uint32_t)data[2] << 16) | ((uint32_t)data[3] << 24));
        uint32_t high = (uint32_t)data[4] | ((uint32_t)data[5] << 8) | ((uint32_t)data[6] << 16) |
                        ((uint32_t)data[7] << 24);
        state = crcTable[7][low & 0xFF] ^ crcTable[6][(low >> 8) & 0xFF] ^
                crcTable[5][(low >> 16) & 0xFF] ^ crcTable[4][low >> 24] ^
                crcTable[3][high & 0xFF] ^ crcTable[2][(high >> 8) & 0xFF] ^
                crcTable[1][(high >> 16) & 0xFF] ^ crcTable[0][high >> 24];
        data += 8;
        length -= 8;
    }
    while (length--)
        state = (state >> 8) ^ crcTable[0][(state ^ *data++) & 0xFF];
    return state;
}

#ifdef CRC32C_HAVE_X86
__attribute__((target("sse4.2"))) static uint32_t crcHardwareRaw(uint32_t state, const uint8_t *data,
                                                                 size_t length)
{
    uint64_t wide = state;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, data, sizeof(word)); /* unaligned-safe */
        wide = _mm_crc32_u64(wide, word);
        data += 8;
        length -= 8;
    }
    uint32_t narrow = (uint32_t)wide;
    while (length--)
        narrow = _mm_crc32_u8(narrow, *data++);
    return narrow;
}
#endif

uint32_t arcCrc32cSoftware(uint32_t crc, const void *data, size_t length)
{
    pthread_once(&crcInitOnce, crcInit);
    return ~crcSoftwareRaw(~crc, data, length);
}

uint32_t arcCrc32c(uint32_t crc, const void *data, size_t length)
{
    pthread_once(&crcInitOnce, crcInit);
#ifdef CRC32C_HAVE_X86
    if (crcUseHardware)
        return ~crcHardwareRaw(~crc, data, length);
#endif
    return ~crcSoftwareRaw(~crc, data, length);
}
