"""An independent reader and writer of backup archive format 2 (encrypted),
written from docs/archive-format.md section 9 and docs/encryption.md alone:
PyNaCl for libsodium's secretstream, hashlib for BLAKE2b and SHA-256, zlib
for gzip members and the `zstd` command for zstd frames. It shares no code
with src/archive or src/crypto; the tests compare the two.

Also a minimal PackStream codec (strings, integers, lists, maps), enough to
decode the records the tests write (docs/archive-format.md section 7).
"""
import hashlib
import struct
import subprocess
import zlib

import nacl.bindings as sodium

PREAMBLE = b"NBKARCH2\x00\x02"
COMPRESSIONS = {0: "none", 1: "gzip", 2: "zstd"}
SECTION_LIMIT = 256 * 1024 * 1024


class Damaged(Exception):
    """The archive is damaged, truncated, tampered with, or under another key."""


class WrongKey(Exception):
    """The key check of the K section does not match the data key."""


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def kdf(data_key: bytes, number: int, size: int = 32) -> bytes:
    """crypto_kdf_derive_from_key(size, number, "NBKARCH2", data key)."""
    return hashlib.blake2b(b"", digest_size=size, key=data_key, salt=struct.pack("<Q", number) + bytes(8),
                           person=b"NBKARCH2" + bytes(8)).digest()


def stream_key(data_key: bytes) -> bytes:
    return kdf(data_key, 1)


def key_check(data_key: bytes) -> bytes:
    return kdf(data_key, 4, 16)


def associated_data(kind: str, index: int) -> bytes:
    return kind.encode() + struct.pack(">Q", index)


def section(kind: str, payload: bytes) -> bytes:
    framed = kind.encode() + struct.pack(">I", len(payload)) + payload
    return framed + struct.pack(">I", crc32c(framed))


def zstd_run(arguments, data: bytes) -> bytes:
    result = subprocess.run(["zstd", "-q", *arguments], input=data, capture_output=True, timeout=60)
    if result.returncode != 0:
        raise Damaged("zstd: " + result.stderr.decode(errors="replace").strip())
    return result.stdout


def decompress(compression: str, data: bytes, where: str) -> bytes:
    if compression == "none":
        return data
    if compression == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            plain = inflater.decompress(data, SECTION_LIMIT + 1)
        except zlib.error as error:
            raise Damaged(f"{where}: gzip: {error}") from error
        if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
            raise Damaged(f"{where}: not exactly one gzip member")
        return plain
    if data[:4] != b"\x28\xb5\x2f\xfd":
        raise Damaged(f"{where}: not a zstd frame")
    return zstd_run(["-d", "-c"], data)


def compress(compression: str, data: bytes) -> bytes:
    if compression == "none":
        return data
    if compression == "gzip":
        deflater = zlib.compressobj(6, zlib.DEFLATED, 31)
        return deflater.compress(data) + deflater.flush()
    return zstd_run(["-c"], data)


def split_sections(data: bytes):
    """[(file offset, kind, payload)] after the preamble; CRCs checked."""
    if data[:10] != PREAMBLE:
        raise Damaged("preamble")
    offset, sections = 10, []
    while offset < len(data):
        if offset + 5 > len(data):
            raise Damaged(f"section at {offset}: cut in its prefix")
        kind, length = chr(data[offset]), struct.unpack(">I", data[offset + 1:offset + 5])[0]
        if length > SECTION_LIMIT:
            raise Damaged(f"section at {offset}: length {length}")
        end = offset + 5 + length
        if end + 4 > len(data):
            raise Damaged(f"section at {offset}: cut")
        if crc32c(data[offset:end]) != struct.unpack(">I", data[end:end + 4])[0]:
            raise Damaged(f"section at {offset}: CRC")
        sections.append((offset, kind, data[offset + 5:end]))
        offset = end + 4
    return sections


def read_archive(data: bytes, data_key: bytes):
    """Returns (compression, header map bytes, [(kind, record bytes)], footer
    fields); raises Damaged, or WrongKey before anything is decrypted."""
    sections = split_sections(data)
    if not sections or sections[0][1] != "K" or len(sections[0][2]) != 42:
        raise Damaged("key section")
    key_payload = sections[0][2]
    if key_payload[0] != 1 or key_payload[1] not in COMPRESSIONS:
        raise Damaged("key section fields")
    compression = COMPRESSIONS[key_payload[1]]
    if key_payload[26:42] != key_check(data_key):
        raise WrongKey("the key check differs")
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, key_payload[2:26], stream_key(data_key))
    header, records, footer, blocks = None, [], None, 0
    for index, (section_offset, kind, payload) in enumerate(sections[1:]):
        if footer is not None:
            raise Damaged("section after the footer")
        try:
            stored, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
                state, payload, associated_data(kind, index))
        except Exception as error:
            raise Damaged(f"block {index} failed authentication") from error
        final = tag == sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
        if tag not in (0, sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL):
            raise Damaged(f"block {index}: tag {tag}")
        if final != (kind == "F") or (index == 0) != (kind == "H"):
            raise Damaged(f"block {index}: kind {kind} in the wrong place")
        plain = decompress(compression, stored, f"block {index}")
        if kind == "H":
            header = plain
        elif kind == "B":
            blocks += 1
            count, position = struct.unpack(">I", plain[:4])[0], 4
            for _ in range(count):
                if position + 5 > len(plain):
                    raise Damaged(f"block {index}: record overruns it")
                record_kind, length = chr(plain[position]), struct.unpack(">I", plain[position + 1:position + 5])[0]
                if record_kind not in "SNR" or position + 5 + length > len(plain):
                    raise Damaged(f"block {index}: bad record")
                records.append((record_kind, plain[position + 5:position + 5 + length]))
                position += 5 + length
            if position != len(plain):
                raise Damaged(f"block {index}: records do not fill it")
        elif kind == "F":
            if len(plain) != 72:
                raise Damaged("footer size")
            footer = struct.unpack(">5Q", plain[:40]) + (plain[40:],)
            expected_digest = hashlib.sha256(b"".join(
                k.encode() + struct.pack(">I", len(r)) + r for k, r in records)).digest()
            counts = tuple(sum(1 for k, _ in records if k == want) for want in "SNR")
            if footer[:5] != counts + (blocks, section_offset) or footer[5] != expected_digest:
                raise Damaged("footer does not match")
        else:
            raise Damaged(f"unknown section {kind}")
    if footer is None:
        raise Damaged("truncated: no footer")
    return compression, header, records, footer


def write_archive(data_key: bytes, compression: str, header: bytes, blocks) -> bytes:
    """A format-2 archive of blocks (lists of (kind, record bytes)), from the docs."""
    code = {name: number for number, name in COMPRESSIONS.items()}[compression]
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    stream_header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, stream_key(data_key))
    out = bytearray(PREAMBLE + section("K", bytes([1, code]) + stream_header + key_check(data_key)))
    index = 0

    def push(kind: str, plain: bytes, final: bool = False):
        nonlocal index
        tag = (sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL if final
               else sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
        cipher = sodium.crypto_secretstream_xchacha20poly1305_push(
            state, compress(compression, plain), associated_data(kind, index), tag)
        out.extend(section(kind, cipher))
        index += 1

    push("H", header)
    digest, counts = hashlib.sha256(), {"S": 0, "N": 0, "R": 0}
    for block in blocks:
        records = b"".join(k.encode() + struct.pack(">I", len(r)) + r for k, r in block)
        digest.update(records)
        for kind, _ in block:
            counts[kind] += 1
        push("B", struct.pack(">I", len(block)) + records)
    footer = struct.pack(">5Q", counts["S"], counts["N"], counts["R"], len(blocks), len(out)) + digest.digest()
    push("F", footer, final=True)
    return bytes(out)


# ---- minimal PackStream (strings, integers, lists, maps) ---------------------

def pack(value) -> bytes:
    if isinstance(value, str):
        raw = value.encode()
        if len(raw) < 16:
            return bytes([0x80 + len(raw)]) + raw
        if len(raw) < 256:
            return bytes([0xD0, len(raw)]) + raw
        return b"\xD1" + struct.pack(">H", len(raw)) + raw
    if isinstance(value, int):
        if -16 <= value < 128:
            return struct.pack(">b", value)
        return b"\xCB" + struct.pack(">q", value)
    if isinstance(value, list):
        assert len(value) < 16
        return bytes([0x90 + len(value)]) + b"".join(pack(item) for item in value)
    if isinstance(value, dict):
        assert len(value) < 16
        return bytes([0xA0 + len(value)]) + b"".join(pack(k) + pack(v) for k, v in value.items())
    raise TypeError(value)


def unpack(data: bytes, at: int = 0):
    """(value, next offset)."""
    marker = data[at]
    if marker < 0x80 or marker >= 0xF0:
        return struct.unpack(">b", data[at:at + 1])[0], at + 1
    if marker == 0xC9:
        return struct.unpack(">h", data[at + 1:at + 3])[0], at + 3
    if marker == 0xCA:
        return struct.unpack(">i", data[at + 1:at + 5])[0], at + 5
    if marker == 0xCB:
        return struct.unpack(">q", data[at + 1:at + 9])[0], at + 9
    if marker == 0xC8:
        return struct.unpack(">b", data[at + 1:at + 2])[0], at + 2
    if 0x80 <= marker < 0x90 or marker in (0xD0, 0xD1):
        if marker < 0x90:
            length, at = marker - 0x80, at + 1
        elif marker == 0xD0:
            length, at = data[at + 1], at + 2
        else:
            length, at = struct.unpack(">H", data[at + 1:at + 3])[0], at + 3
        return data[at:at + length].decode(), at + length
    if 0x90 <= marker < 0xA0:
        items, at = [], at + 1
        for _ in range(marker - 0x90):
            item, at = unpack(data, at)
            items.append(item)
        return items, at
    if 0xA0 <= marker < 0xB0:
        result, at = {}, at + 1
        for _ in range(marker - 0xA0):
            key, at = unpack(data, at)
            result[key], at = unpack(data, at)
        return result, at
    raise ValueError(f"PackStream marker {marker:#x} not in this minimal decoder")


# ---- keys and manifests (docs/encryption.md sections 1.2, 1.4 and 3) ----------------------------


def key_id(master_key: bytes) -> bytes:
    return hashlib.blake2b(b"nbk master key id v1", digest_size=16, key=master_key).digest()


def read_key_file(text: str) -> bytes:
    if not text.startswith("nbk-key-v1:"):
        raise Damaged("not a key file")
    return bytes.fromhex(text[len("nbk-key-v1:"):].strip())


def unwrap_data_key(master_key: bytes, wrapped: bytes) -> bytes:
    """The data key of a wrapped key (section 1.4); WrongKey for another master key."""
    if len(wrapped) != 89 or wrapped[0] != 1:
        raise Damaged("wrapped key size or version")
    if wrapped[1:17] != key_id(master_key):
        raise WrongKey("wrapped by another master key")
    associated = b"nbk data key v1" + wrapped[0:1] + wrapped[1:17]
    try:
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(wrapped[41:], associated, wrapped[17:41],
                                                                 master_key)
    except Exception as error:
        raise WrongKey("the wrapped key failed authentication") from error


MUTABLE_FIELDS = ("status", "validated_at", "keep")


def _field_text(value) -> bytes:
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, float) and hasattr(value, "text"):
        return value.text.encode()  # the number as written (json-c keeps it)
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "\n".join(value).encode()
    import json
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_fields(manifest: dict, key_section: bytes):
    """The protected fields (section 3.1): [(name, value bytes)], unsorted."""
    fields = []

    def walk(prefix, obj):
        for key, value in obj.items():
            if prefix is None and (key in ("manifest_sha256", "encryption") or key in MUTABLE_FIELDS):
                continue
            if value is None:
                continue
            name = key if prefix is None else f"{prefix}.{key}"
            if isinstance(value, dict):
                walk(name, value)
            else:
                fields.append((name, _field_text(value)))

    walk(None, manifest)
    fields.append(("archive_key_section", key_section.hex().encode()))
    fields.append(("encryption.format", b"1"))
    return fields


def manifest_canonical(fields) -> bytes:
    out = b"nbk manifest v1" + struct.pack(">I", len(fields))
    for name, value in sorted(fields, key=lambda item: item[0].encode()):
        encoded = name.encode()
        out += bytes([len(encoded)]) + encoded + struct.pack(">I", len(value)) + value
    return out


def manifest_mac(data_key: bytes, canonical: bytes) -> bytes:
    return hashlib.blake2b(canonical, digest_size=32, key=kdf(data_key, 2)).digest()


def open_private(data_key: bytes, mac: bytes, sealed: bytes) -> bytes:
    try:
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[24:], b"nbk manifest private v1" + mac,
                                                                 sealed[:24], kdf(data_key, 3))
    except Exception as error:
        raise Damaged("manifest private part failed authentication") from error
