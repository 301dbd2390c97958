"""The encryption layer against an independent implementation.

This reader and writer are written from docs/encryption.md alone, with PyNaCl
(libsodium's secretstream and AEAD, Argon2id) and hashlib (BLAKE2b). They
decrypt the C test tool's vectors (tests/tools/crypto_vectors.c), check that
the vectors printed in the docs are the tool's, and encrypt data that the C
code must open, or refuse when damaged. No Neo4j server is needed.
"""
import hashlib
import json
import os
import re
import struct
import subprocess

import pytest

sodium = pytest.importorskip("nacl.bindings")
import nacl.pwhash.argon2id as argon2id  # noqa: E402  (after the importorskip)

STATUS_CORRUPTED = 11
STATUS_KEY_INVALID = 35


@pytest.fixture(scope="module")
def vectors_bin(build_dir):
    path = build_dir / "crypto_vectors"
    if not path.exists():
        pytest.skip(f"{path} is not built (cmake --build {build_dir})")
    return path


def run_tool(vectors_bin, mode, stdin=None):
    return subprocess.run([str(vectors_bin), mode], input=stdin, capture_output=True, text=True, timeout=60)


# ---- the format, from docs/encryption.md ----------------------------------

def key_id(master: bytes) -> bytes:
    return hashlib.blake2b(b"nbk master key id v1", digest_size=16, key=master).digest()


def subkey(data_key: bytes, number: int) -> bytes:
    return hashlib.blake2b(b"", digest_size=32, key=data_key, salt=struct.pack("<Q", number) + bytes(8),
                           person=b"NBKARCH2" + bytes(8)).digest()


def wrap_ad(version: int, kid: bytes) -> bytes:
    return b"nbk data key v1" + bytes([version]) + kid


def unwrap(master: bytes, wrapped: bytes) -> bytes:
    assert len(wrapped) == 89 and wrapped[0] == 1
    kid, nonce, sealed = wrapped[1:17], wrapped[17:41], wrapped[41:]
    assert kid == key_id(master)
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, wrap_ad(1, kid), nonce, master)


def wrap(master: bytes, data_key: bytes) -> bytes:
    kid = key_id(master)
    nonce = os.urandom(24)
    return bytes([1]) + kid + nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        data_key, wrap_ad(1, kid), nonce, master)


def block_ad(kind: str, index: int) -> bytes:
    return kind.encode() + struct.pack(">Q", index)


def decrypt_stream(data_key: bytes, header: bytes, blocks):
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, header, subkey(data_key, 1))
    plains = []
    for index, (kind, cipher) in enumerate(blocks):
        plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, cipher, block_ad(kind, index))
        final = tag == sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
        assert final == (index == len(blocks) - 1)
        plains.append(plain)
    return plains


def encrypt_stream(data_key: bytes, blocks):
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, subkey(data_key, 1))
    ciphers = []
    for index, (kind, plain) in enumerate(blocks):
        tag = (sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL if index == len(blocks) - 1
               else sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
        ciphers.append(sodium.crypto_secretstream_xchacha20poly1305_push(state, plain, block_ad(kind, index), tag))
    return header, ciphers


def canonical(fields) -> bytes:
    out = b"nbk manifest v1" + struct.pack(">I", len(fields))
    for name, value in sorted(((n.encode(), v.encode()) for n, v in fields)):
        out += bytes([len(name)]) + name + struct.pack(">I", len(value)) + value
    return out


def manifest_mac(data_key: bytes, fields) -> bytes:
    return hashlib.blake2b(canonical(fields), digest_size=32, key=subkey(data_key, 2)).digest()


def seal_ad(mac: bytes) -> bytes:
    return b"nbk manifest private v1" + mac


def open_private(data_key: bytes, mac: bytes, sealed: bytes) -> bytes:
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(sealed[24:], seal_ad(mac), sealed[:24],
                                                             subkey(data_key, 3))


def seal_private(data_key: bytes, mac: bytes, plain: bytes) -> bytes:
    nonce = os.urandom(24)
    return nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, seal_ad(mac), nonce, subkey(data_key, 3))


def key_record(passphrase: bytes, opslimit: int, memlimit: int):
    salt = os.urandom(16)
    key = argon2id.kdf(32, passphrase, salt, opslimit=opslimit, memlimit=memlimit)
    record = b"NBKKEYR1" + bytes([2]) + struct.pack(">QQ", opslimit, memlimit) + salt + key_id(key)
    return record, key


def passphrase_key(passphrase: bytes, record: bytes) -> bytes:
    assert len(record) == 57 and record[:8] == b"NBKKEYR1" and record[8] == 2
    opslimit, memlimit = struct.unpack(">QQ", record[9:25])
    key = argon2id.kdf(32, passphrase, record[25:41], opslimit=opslimit, memlimit=memlimit)
    assert key_id(key) == record[41:57]
    return key


# ---- C writes, Python reads -------------------------------------------------

def test_python_reader_opens_the_c_vectors(vectors_bin):
    result = run_tool(vectors_bin, "emit")
    assert result.returncode == 0, result.stderr
    vectors = json.loads(result.stdout)
    master = bytes.fromhex(vectors["master_key"])
    assert key_id(master).hex() == vectors["key_id"]
    data_key = unwrap(master, bytes.fromhex(vectors["wrapped_key"]))
    assert data_key.hex() == vectors["data_key"]
    assert [subkey(data_key, n).hex() for n in (1, 2, 3)] == [
        vectors["stream_key"], vectors["manifest_mac_key"], vectors["manifest_seal_key"]]
    # Subkey 4 is 16 bytes long: BLAKE2b's output length is a parameter, not a truncation.
    assert hashlib.blake2b(b"", digest_size=16, key=data_key, salt=struct.pack("<Q", 4) + bytes(8),
                           person=b"NBKARCH2" + bytes(8)).hexdigest() == vectors["key_check"]
    blocks = [(b["kind"], bytes.fromhex(b["cipher"])) for b in vectors["blocks"]]
    plains = decrypt_stream(data_key, bytes.fromhex(vectors["stream_header"]), blocks)
    assert [p.hex() for p in plains] == [b["plain"] for b in vectors["blocks"]]
    assert plains[0] == b"header section"
    fields = [tuple(pair) for pair in vectors["manifest_fields"]]
    assert canonical(fields).hex() == vectors["manifest_canonical"]
    mac = manifest_mac(data_key, fields)
    assert mac.hex() == vectors["manifest_mac"]
    private = open_private(data_key, mac, bytes.fromhex(vectors["private_sealed"]))
    assert json.loads(private)["labels"] == ["Person"]
    assert passphrase_key(vectors["passphrase"].encode(), bytes.fromhex(vectors["key_record"])).hex() == \
        vectors["passphrase_key"]


def test_docs_list_the_tools_vectors(vectors_bin, repo_root):
    text = (repo_root / "docs" / "encryption.md").read_text()
    match = re.search(r"<!-- vectors:begin -->\s*```json\n(.*?)```\s*<!-- vectors:end -->", text, re.S)
    assert match, "docs/encryption.md has no vectors block"
    emitted = json.loads(run_tool(vectors_bin, "emit").stdout)
    assert json.loads(match.group(1)) == emitted


# ---- Python writes, C reads -------------------------------------------------

def python_backup():
    master = os.urandom(32)
    data_key = os.urandom(32)
    plains = [("H", b"\x28\xb5\x2f\xfd header"), ("B", os.urandom(300)), ("B", b""), ("B", b"third"),
              ("F", b"footer bytes")]
    header, ciphers = encrypt_stream(data_key, plains)
    fields = [("id", "2026-12-02T091500Z"), ("node_count", "42"), ("archive_sha256", "00" * 32),
              ("parent", "2026-12-01T091500Z"), ("status", "COMPLETE")]
    mac = manifest_mac(data_key, fields)
    record, pass_key = key_record(b"open sesame", 1, 8192)
    vectors = {
        "master_key": master.hex(),
        "wrapped_key": wrap(master, data_key).hex(),
        "stream_header": header.hex(),
        "blocks": [{"kind": kind, "cipher": cipher.hex()} for (kind, _), cipher in zip(plains, ciphers)],
        "manifest_fields": [list(pair) for pair in fields],
        "manifest_mac": mac.hex(),
        "private_sealed": seal_private(data_key, mac, b'{"relationship_types":["KNOWS"]}').hex(),
        "passphrase": "open sesame",
        "key_record": record.hex(),
    }
    return vectors, data_key, plains, pass_key


def test_c_opens_what_python_encrypted(vectors_bin):
    vectors, data_key, plains, pass_key = python_backup()
    result = run_tool(vectors_bin, "open", json.dumps(vectors))
    assert result.returncode == 0, result.stderr
    opened = json.loads(result.stdout)
    assert opened["data_key"] == data_key.hex()
    assert opened["blocks"] == [plain.hex() for _, plain in plains]
    assert opened["private_plain"] == '{"relationship_types":["KNOWS"]}'
    assert opened["passphrase_key"] == pass_key.hex()


def flip(hex_text: str, bit: int) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[bit // 8] ^= 1 << (bit % 8)
    return raw.hex()


def damaged_variants():
    def flipped_block(v):
        v["blocks"][3]["cipher"] = flip(v["blocks"][3]["cipher"], 77)

    def truncated(v):
        del v["blocks"][-1]

    def reordered(v):
        v["blocks"][1], v["blocks"][2] = v["blocks"][2], v["blocks"][1]

    def duplicated(v):
        v["blocks"].insert(2, dict(v["blocks"][1]))

    def changed_count(v):
        v["manifest_fields"][1][1] = "43"

    def changed_checksum(v):
        v["manifest_fields"][2][1] = "01" + "00" * 31

    def changed_parent(v):
        v["manifest_fields"][3][1] = "2026-11-30T091500Z"

    def flipped_private(v):
        v["private_sealed"] = flip(v["private_sealed"], 200)

    return [
        ("flipped_block", flipped_block, STATUS_CORRUPTED, "block 3 (section 'B') failed authentication"),
        ("truncated", truncated, STATUS_CORRUPTED, "truncated"),
        ("reordered", reordered, STATUS_CORRUPTED, "block 1 (section 'B') failed authentication"),
        ("duplicated", duplicated, STATUS_CORRUPTED, "block 2 (section 'B') failed authentication"),
        ("changed_count", changed_count, STATUS_CORRUPTED, "manifest authentication failed"),
        ("changed_checksum", changed_checksum, STATUS_CORRUPTED, "manifest authentication failed"),
        ("changed_parent", changed_parent, STATUS_CORRUPTED, "manifest authentication failed"),
        ("flipped_private", flipped_private, STATUS_CORRUPTED, "manifest private part failed authentication"),
    ]


@pytest.mark.parametrize("name,damage,status,reason", damaged_variants(), ids=[v[0] for v in damaged_variants()])
def test_c_refuses_damaged_python_output(vectors_bin, name, damage, status, reason):
    vectors, _, _, _ = python_backup()
    damage(vectors)
    result = run_tool(vectors_bin, "open", json.dumps(vectors))
    assert result.returncode == status, result.stderr
    assert reason in result.stderr
    assert result.stdout == ""


def test_wrong_key_or_passphrase_is_key_invalid(vectors_bin):
    vectors, _, _, _ = python_backup()
    wrong_key = dict(vectors, master_key=os.urandom(32).hex())
    result = run_tool(vectors_bin, "open", json.dumps(wrong_key))
    assert result.returncode == STATUS_KEY_INVALID
    assert result.stderr.startswith("BACKUP_KEY_INVALID: ")
    assert wrong_key["master_key"] not in result.stderr  # the key never reaches a message
    wrong_passphrase = dict(vectors, passphrase="open sesame!")
    result = run_tool(vectors_bin, "open", json.dumps(wrong_passphrase))
    assert result.returncode == STATUS_KEY_INVALID
    assert "passphrase" in result.stderr
