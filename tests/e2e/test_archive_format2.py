"""Archive format 2 (encrypted) against the independent reader and writer of
tests/e2e/nbk_format2.py, written from docs/archive-format.md section 9 alone.

The C side is src/archive itself, driven through tests/tools/crypto_vectors
(`write-archive`, `read-archive`, and the vectors of `emit`). No Neo4j server
is needed.
"""
import json
import os
import re
import struct
import subprocess

import pytest

pytest.importorskip("nacl.bindings")
import nbk_format2 as fmt  # noqa: E402  (after the importorskip)

STATUS_CORRUPTED = 11
STATUS_KEY_REQUIRED = 34
STATUS_KEY_INVALID = 35
COMPRESSIONS = ["none", "gzip", "zstd"]


@pytest.fixture(scope="module")
def vectors_bin(build_dir):
    path = build_dir / "crypto_vectors"
    if not path.exists():
        pytest.skip(f"{path} is not built (cmake --build {build_dir})")
    return path


def graph_records():
    """Schema, nodes and relationships as real PackStream records, each
    carrying strings that must never appear in the archive's bytes."""
    values = [("S", {"kind": "index", "name": "idx_SecretLabel_email", "labelsOrTypes": ["SecretLabel"],
                     "properties": ["secretEmail"]})]
    for key in range(400):
        values.append(("N", [key, ["SecretLabel", f"Tenant{key % 3}"],
                             {"secretEmail": f"person{key}@secret-example.org", "rank": key * 1000}]))
    for key in range(300):
        values.append(("R", [key, key, (key * 7) % 400, "SECRET_KNOWS", {"since": 2000 + key % 20}]))
    return values


def write_with_c(vectors_bin, tmp_path, data_key, compression, records, block_size=4096,
                 header=b"\xa1\x82db\x8esecretDatabase"):
    path = tmp_path / f"graph-{compression}.nbk2"
    request = {"data_key": data_key.hex(), "compression": compression, "block_size": block_size,
               "header": header.hex(), "records": [[kind, raw.hex()] for kind, raw in records]}
    result = subprocess.run([str(vectors_bin), "write-archive", str(path)], input=json.dumps(request),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return path.read_bytes()


def read_with_c(vectors_bin, tmp_path, data: bytes, key_hex: str):
    path = tmp_path / f"read-{os.urandom(4).hex()}.nbk"
    path.write_bytes(data)
    return subprocess.run([str(vectors_bin), "read-archive", str(path), key_hex], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_python_reads_what_the_c_writer_wrote(vectors_bin, tmp_path, compression):
    data_key = os.urandom(32)
    values = graph_records()
    records = [(kind, fmt.pack(value)) for kind, value in values]
    archive = write_with_c(vectors_bin, tmp_path, data_key, compression, records)

    found, header, read, footer = fmt.read_archive(archive, data_key)
    assert found == compression
    assert fmt.unpack(header)[0] == {"db": "secretDatabase"}
    assert read == records
    assert [(kind, fmt.unpack(raw)[0]) for kind, raw in read] == values
    assert footer[:4] == (1, 400, 300, footer[3]) and footer[3] > 3  # several blocks at 4 KiB
    # Nothing of the graph is readable without the key, even uncompressed.
    for secret in (b"SecretLabel", b"secret-example", b"SECRET_KNOWS", b"secretEmail", b"secretDatabase",
                   b"Tenant", b"person1"):
        assert secret not in archive
    # Another key is told apart from damage before anything is decrypted.
    with pytest.raises(fmt.WrongKey):
        fmt.read_archive(archive, os.urandom(32))


def test_python_detects_damage_in_what_the_c_writer_wrote(vectors_bin, tmp_path):
    data_key = os.urandom(32)
    records = [(kind, fmt.pack(value)) for kind, value in graph_records()[:120]]
    archive = write_with_c(vectors_bin, tmp_path, data_key, "zstd", records)
    sections = fmt.split_sections(archive)
    assert [kind for _, kind, _ in sections][:2] == ["K", "H"] and sections[-1][1] == "F"
    for bit in range(0, 8 * len(archive), 37):
        damaged = bytearray(archive)
        damaged[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(fmt.Damaged):
            fmt.read_archive(bytes(damaged), data_key)
    # Two blocks swapped, CRCs intact: the stream refuses the first one out of place.
    (_, _, first), (_, _, second) = sections[2], sections[3]
    swapped = (archive[:sections[2][0]] + fmt.section("B", second) + fmt.section("B", first) +
               archive[sections[4][0]:])
    with pytest.raises(fmt.Damaged, match="block 1 failed authentication"):
        fmt.read_archive(swapped, data_key)
    for cut in (len(archive) - 1, sections[-1][0], sections[3][0], 12):
        with pytest.raises(fmt.Damaged):
            fmt.read_archive(archive[:cut], data_key)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_c_reads_what_python_wrote(vectors_bin, tmp_path, compression):
    data_key = os.urandom(32)
    records = [(kind, fmt.pack(value)) for kind, value in graph_records()[:200]]
    blocks = [records[:1], records[1:90], [], records[90:]]  # an empty block is allowed
    header = fmt.pack({"format": "nbk-logical-1"})
    archive = fmt.write_archive(data_key, compression, header, blocks)
    assert fmt.read_archive(archive, data_key)[2] == records

    result = read_with_c(vectors_bin, tmp_path, archive, data_key.hex())
    assert result.returncode == 0, result.stderr
    opened = json.loads(result.stdout)
    assert opened["encrypted"] is True and opened["compression"] == compression
    assert bytes.fromhex(opened["header"]) == header
    assert [(kind, bytes.fromhex(raw)) for kind, raw in opened["records"]] == records

    missing = read_with_c(vectors_bin, tmp_path, archive, "-")
    assert missing.returncode == STATUS_KEY_REQUIRED and missing.stderr.startswith("BACKUP_KEY_REQUIRED: ")
    wrong = read_with_c(vectors_bin, tmp_path, archive, os.urandom(32).hex())
    assert wrong.returncode == STATUS_KEY_INVALID and wrong.stderr.startswith("BACKUP_KEY_INVALID: ")
    assert missing.stdout == wrong.stdout == ""


def test_c_refuses_python_archives_damaged_on_purpose(vectors_bin, tmp_path):
    data_key = os.urandom(32)
    records = [(kind, fmt.pack(value)) for kind, value in graph_records()[:60]]
    header = fmt.pack({"v": 1})
    good = fmt.write_archive(data_key, "gzip", header, [records[:20], records[20:40], records[40:]])
    sections = fmt.split_sections(good)

    def rebuilt(order):
        return good[:10] + b"".join(fmt.section(kind, payload) for _, kind, payload in
                                   (sections[i] for i in order))

    last = len(sections) - 1
    cases = {
        "reordered": (rebuilt([0, 1, 3, 2, 4, last]), "block 1 at file offset"),
        "dropped": (rebuilt([0, 1, 2, 4, last]), "block 2 at file offset"),
        "truncated": (rebuilt([0, 1, 2, 3, 4]), "truncated"),
        "appended": (good + b"\0", "after the footer"),
    }
    for name, (data, reason) in cases.items():
        result = read_with_c(vectors_bin, tmp_path, data, data_key.hex())
        assert result.returncode == STATUS_CORRUPTED, (name, result.stderr)
        assert reason in result.stderr, (name, result.stderr)
    # A changed byte with its CRC recomputed: the tag fails, the block is named.
    offset, kind, payload = sections[3]
    tampered = bytearray(payload)
    tampered[len(tampered) // 2] ^= 0x04
    data = good[:offset] + fmt.section(kind, bytes(tampered)) + good[offset + 9 + len(payload):]
    result = read_with_c(vectors_bin, tmp_path, data, data_key.hex())
    assert result.returncode == STATUS_CORRUPTED
    assert f"block 2 at file offset {offset}" in result.stderr and "failed authentication" in result.stderr


def test_python_decodes_the_archive_vector_of_the_docs(vectors_bin, repo_root):
    vectors = json.loads(subprocess.run([str(vectors_bin), "emit"], capture_output=True, text=True,
                                        timeout=60).stdout)
    data_key = bytes.fromhex(vectors["data_key"])
    assert fmt.key_check(data_key).hex() == vectors["key_check"]
    archive = bytes.fromhex(vectors["archive"])
    compression, header, records, footer = fmt.read_archive(archive, data_key)
    assert compression == "none"
    assert header == bytes([0xA1, 0x81, 0x76, 0x01])
    assert records == [("S", b"abc"), ("N", b""), ("R", b"xyz12")]
    assert footer[:5] == (1, 1, 1, 1, 0x90)
    for secret in (b"abc", b"xyz12"):
        assert secret not in archive
    # The annotated dump in docs/archive-format.md is this archive, byte for byte.
    text = (repo_root / "docs" / "archive-format.md").read_text()
    match = re.search(r"<!-- format2-example:begin -->\s*```\n(.*?)```\s*<!-- format2-example:end -->", text, re.S)
    assert match, "docs/archive-format.md has no format 2 example"
    dumped = b"".join(bytes.fromhex("".join(line[10:49].split())) for line in match.group(1).splitlines())
    assert dumped == archive
    # A flipped bit anywhere is detected: by the CRC, or (CRC recomputed) by the tag.
    for bit in range(8 * len(archive)):
        damaged = bytearray(archive)
        damaged[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises((fmt.Damaged, fmt.WrongKey)):
            fmt.read_archive(bytes(damaged), data_key)
    for index, (offset, kind, payload) in enumerate(fmt.split_sections(archive)[1:]):
        tampered = bytearray(payload)
        tampered[len(tampered) // 2] ^= 0x01
        data = archive[:offset] + fmt.section(kind, bytes(tampered)) + archive[offset + 9 + len(payload):]
        with pytest.raises(fmt.Damaged, match=f"block {index} failed authentication"):
            fmt.read_archive(data, data_key)
    for length in range(len(archive)):
        with pytest.raises(fmt.Damaged):
            fmt.read_archive(archive[:length], data_key)
