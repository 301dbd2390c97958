"""Encryption at rest end to end (issue 14, docs/encryption.md): real Neo4j
servers, the real executables, a repository on a local path and on object
storage (moto's S3 server; boto3 reads and changes its objects). The graph is
small and carries random strings in its labels, types, property names and
values and in an index, so that their absence from every byte of the
repository means something. One encrypted backup per storage is reused by
the module's tests; the tests that damage it put its bytes back.

What is checked: nothing of the graph in the repository (even with
--compression none); --list/--validate without the key; a missing or wrong
key refused with its code before the target changes (the official driver
compares the target); damage (a flipped bit, truncation, reordered blocks,
a manifest with a changed count or checksum) refused; key rotation; the
import load and promotion of an encrypted backup; a passphrase with its key
record in the repository; the independent Python reader (nbk_format2.py)
opening what the tool wrote."""

import base64
import hashlib
import json
import uuid

import pytest

from helpers import (BACKUP_CORRUPTED, CONFIG_INVALID, RawFloat, Tools, _compact_json,
                     assert_error, backup_id_of, graph_snapshot, manifest_checksum)
from conftest import SERVER_PREFIX
from neo4j_servers import launcher_command
from s3_servers import start_s3_server, stop_s3_server

pytest.importorskip("nacl.bindings")
import nbk_format2 as fmt  # noqa: E402  (after the importorskip)

BACKUP_KEY_REQUIRED = 34
BACKUP_KEY_INVALID = 35
TOKEN = uuid.uuid4().hex[:10]
LABEL = f"Secretlabel{TOKEN}"
TYPE = f"SECRET_TYPE_{TOKEN}"
PROPERTY = f"secretprop{TOKEN}"
VALUE = f"mail-{TOKEN}@example.org"
INDEX = f"secret_index_{TOKEN}"
NODES = 40
# Batched: a neighbouring module may have left a big graph on the server.
WIPE = "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"


class Repository:
    """Bytes of a repository wherever it is: name -> bytes, read and write."""

    def __init__(self, kind, root, server=None, prefix=None):
        self.kind, self.root, self.server, self.prefix = kind, root, server, prefix

    def names(self):
        if self.server is None:
            return sorted(str(path.relative_to(self.root)) for path in self.root.rglob("*") if path.is_file())
        return sorted(key[len(self.prefix) + 1:] for key in self.server.keys(self.prefix))

    def read(self, name) -> bytes:
        if self.server is None:
            return (self.root / name).read_bytes()
        return self.server.get(f"{self.prefix}/{name}")

    def write(self, name, data: bytes):
        if self.server is None:
            (self.root / name).write_bytes(data)
        else:
            self.server.client.put_object(Bucket=self.server.bucket, Key=f"{self.prefix}/{name}", Body=data)

    def manifest(self, backup_id):
        return json.loads(self.read(f"{backup_id}/manifest.json"), parse_float=RawFloat)

    def write_manifest(self, backup_id, manifest):
        """Both copies, with a recomputed manifest_sha256: only the MAC can tell."""
        manifest = dict(manifest)
        manifest["manifest_sha256"] = manifest_checksum(manifest)
        for name in ("manifest.json", "manifest.json.copy"):
            self.write(f"{backup_id}/{name}", (_compact_json(manifest) + "\n").encode())


@pytest.fixture(scope="module")
def secret_graph(neo4j_server):
    """A small graph whose every name and string holds TOKEN."""
    neo4j_server.run(WIPE)
    for row in neo4j_server.run("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"):
        neo4j_server.run(f"DROP INDEX `{row['name']}` IF EXISTS")
    for row in neo4j_server.run("SHOW CONSTRAINTS YIELD name RETURN name"):
        neo4j_server.run(f"DROP CONSTRAINT `{row['name']}` IF EXISTS")
    neo4j_server.run(f"CREATE INDEX {INDEX} FOR (n:{LABEL}) ON (n.{PROPERTY})")
    neo4j_server.run(f"UNWIND range(1, {NODES}) AS i CREATE (:{LABEL} {{{PROPERTY}: '{VALUE}-' + i}})")
    neo4j_server.run(f"MATCH (a:{LABEL}), (b:{LABEL}) WHERE a.{PROPERTY} = '{VALUE}-' + 1 AND b <> a "
                     f"CREATE (a)-[:{TYPE} {{{PROPERTY}: '{VALUE}'}}]->(b)")
    return neo4j_server


@pytest.fixture(scope="module")
def keys(tmp_path_factory, backup_bin, run_cli):
    """Two key files written by --generate-key: (current, next)."""
    directory = tmp_path_factory.mktemp("keys")
    paths = []
    for name in ("current.key", "next.key"):
        path = directory / name
        done = run_cli([backup_bin, "--generate-key", str(path)], env={})
        assert done.returncode == 0, done.stderr
        paths.append(path)
    return tuple(paths)


@pytest.fixture(scope="module", params=["local", "s3"])
def repo(request, tmp_path_factory, backup_bin, restore_bin, neo4j_server, neo4j_target, keys, secret_graph):
    """(tools with the current key, Repository, backup id): one encrypted
    backup with --compression none, per storage."""
    work = tmp_path_factory.mktemp(f"repo-{request.param}")
    extra = {"HOME": str(work), "BACKUP_STATE_DIR": str(work / "state"), "BACKUP_ENCRYPTION_KEY_FILE": str(keys[0])}
    server = None
    if request.param == "s3":
        pytest.importorskip("boto3")
        server = start_s3_server("moto", SERVER_PREFIX)
        prefix = f"enc-{uuid.uuid4().hex[:10]}"
        extra.update(server.environment(prefix))
        storage, repository = extra["BACKUP_STORAGE_PATH"], Repository("s3", None, server, prefix)
    else:
        storage = work / "backups"
        repository = Repository("local", storage)
    tools = Tools(backup_bin, restore_bin, storage, production=neo4j_server, target=neo4j_target, extra=extra)
    created = tools.backup("--create", "--compression", "none")
    assert created.returncode == 0, created.output
    yield tools, repository, backup_id_of(created)
    if server is not None:
        stop_s3_server(server)


NO_KEY = {"BACKUP_ENCRYPTION_KEY_FILE": None}


def archive_name(repository, backup_id):
    return f"{backup_id}/{repository.manifest(backup_id)['archive']['file']}"


def mark_target(target):
    """A graph on the target that a refused restore must leave as it is."""
    target.run(WIPE)
    target.run("CREATE (:UntouchedMarker {note: 'a refused restore leaves me'})")
    return graph_snapshot(target)


def test_nothing_of_the_graph_is_in_the_repository(repo):
    tools, repository, backup_id = repo
    names = repository.names()
    assert f"{backup_id}/graph.nbk" in names and f"{backup_id}/manifest.json" in names, names
    for name in names:
        data = repository.read(name)
        for secret in (TOKEN, LABEL, TYPE, PROPERTY, VALUE, INDEX):
            assert secret.encode() not in data, f"{secret} in {name}"
            assert secret.encode("utf-16-le") not in data, f"{secret} (UTF-16) in {name}"
    manifest = repository.manifest(backup_id)
    assert repository.read(f"{backup_id}/graph.nbk")[:8] == b"NBKARCH2"
    assert set(manifest["encryption"]) == {"format", "key_id", "wrapped_key", "mac", "private"}
    assert "schema" not in manifest and "uri" not in manifest["source"] and "labels" not in manifest["stats"]
    assert manifest["stats"]["nodes"] == NODES  # what --list needs stays readable


def test_list_and_validate_without_the_key(repo):
    tools, repository, backup_id = repo
    listed = tools.backup("--list", env=NO_KEY)
    assert listed.returncode == 0, listed.output
    assert "Encryption:     encrypted (key id" in listed.stdout
    verbose = tools.backup("--list", "-v", env=NO_KEY)
    assert "Per label/type: encrypted" in verbose.stdout and LABEL not in verbose.output, verbose.output
    entries = json.loads(tools.backup("--list", "--json", env=NO_KEY).stdout)["backups"]
    assert [entry["encrypted"] for entry in entries if entry["id"] == backup_id] == [True]

    keyless = tools.backup("--validate", backup_id, env=NO_KEY)
    assert keyless.returncode == 0, keyless.output
    assert "Content NOT checked" in keyless.output and "Checksum verification: PASSED" in keyless.stdout
    assert repository.manifest(backup_id)["status"] == "COMPLETE"  # no verdict without the content

    full = tools.backup("--validate", backup_id)
    assert full.returncode == 0, full.output
    assert "key" in full.stdout and "Blocks and records: PASSED" in full.stdout
    assert repository.manifest(backup_id)["status"] == "COMPLETE, VALIDATED"


def test_python_reader_opens_what_the_tool_wrote(repo, keys):
    """nbk_format2.py (written from the docs) unwraps the data key, checks the
    manifest MAC, opens its private part and decodes the archive."""
    tools, repository, backup_id = repo
    manifest = repository.manifest(backup_id)
    master = fmt.read_key_file(keys[0].read_text())
    assert manifest["encryption"]["key_id"] == fmt.key_id(master).hex()
    data_key = fmt.unwrap_data_key(master, bytes.fromhex(manifest["encryption"]["wrapped_key"]))
    archive = repository.read(f"{backup_id}/graph.nbk")
    key_section = fmt.split_sections(archive)[0][2]
    mac = fmt.manifest_mac(data_key, fmt.manifest_canonical(fmt.manifest_fields(manifest, key_section)))
    assert mac.hex() == manifest["encryption"]["mac"]
    private = json.loads(fmt.open_private(data_key, mac, base64.b64decode(manifest["encryption"]["private"])))
    assert private["stats"]["labels"] == {LABEL: NODES}
    assert any(item["name"] == INDEX for item in private["schema"])
    compression, header, records, footer = fmt.read_archive(archive, data_key)
    assert compression == "none"
    assert sum(1 for kind, _ in records if kind == "N") == NODES
    assert any(VALUE.encode() in record for kind, record in records if kind == "N")
    with pytest.raises(fmt.WrongKey):
        fmt.unwrap_data_key(fmt.read_key_file(keys[1].read_text()),
                            bytes.fromhex(manifest["encryption"]["wrapped_key"]))


def test_missing_and_wrong_key_refused_before_the_target_is_touched(repo, keys, neo4j_target):
    tools, repository, backup_id = repo
    before = mark_target(neo4j_target)
    for load in ("bolt", "import"):
        missing = tools.restore("--backup-id", backup_id, "--load", load, env=NO_KEY)
        assert_error(missing, BACKUP_KEY_REQUIRED, "BACKUP_KEY_REQUIRED")
        assert "Action: Set BACKUP_ENCRYPTION_KEY_FILE" in missing.stderr
        wrong = tools.restore("--backup-id", backup_id, "--load", load,
                              env={"BACKUP_ENCRYPTION_KEY_FILE": str(keys[1])})
        assert_error(wrong, BACKUP_KEY_INVALID, "BACKUP_KEY_INVALID")
        assert graph_snapshot(neo4j_target) == before
    assert neo4j_target.run("MATCH (n:UntouchedMarker) RETURN count(n) AS c")[0]["c"] == 1


def test_restore_with_the_key_passes_the_health_checks(repo, secret_graph, neo4j_target):
    tools, repository, backup_id = repo
    restored = tools.restore("--backup-id", backup_id, "--load", "bolt")
    assert restored.returncode == 0, restored.output
    assert "key accepted, manifest authenticated" in restored.stdout
    assert restored.stdout.count("... PASS") == 5, restored.output
    assert graph_snapshot(neo4j_target) == graph_snapshot(secret_graph)


def damaged(repository, name, data, check):
    """Runs check with name's bytes replaced by data, then puts them back."""
    original = repository.read(name)
    repository.write(name, data)
    try:
        check()
    finally:
        repository.write(name, original)


def test_damage_is_refused_and_located(repo, neo4j_target):
    tools, repository, backup_id = repo
    name = archive_name(repository, backup_id)
    archive = repository.read(name)
    sections = fmt.split_sections(archive)
    blocks = [section for section in sections if section[1] == "B"]
    before = mark_target(neo4j_target)

    # A flipped bit inside the first record block: the CRC (no key) locates it.
    flipped = bytearray(archive)
    flipped[blocks[0][0] + 20] ^= 0x01

    def flipped_bit():
        result = tools.backup("--validate", backup_id, env=NO_KEY)
        assert_error(result, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
        assert f"block 1 at file offset {blocks[0][0]}: CRC mismatch" in result.stderr, result.output
        restored = tools.restore("--backup-id", backup_id, "--load", "bolt")
        assert_error(restored, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    damaged(repository, name, bytes(flipped), flipped_bit)

    # The same damage with the manifest's SHA-256 and size made to match: the
    # MAC over them refuses the manifest, and the secretstream the block.
    manifest = repository.manifest(backup_id)

    def with_matching_checksum(data, check):
        changed = json.loads(json.dumps(manifest), parse_float=RawFloat)
        changed["archive"]["sha256"] = hashlib.sha256(data).hexdigest()
        changed["archive"]["size_compressed"] = len(data)
        original = [repository.read(f"{backup_id}/{file}") for file in ("manifest.json", "manifest.json.copy")]
        repository.write_manifest(backup_id, changed)
        try:
            damaged(repository, name, data, check)
        finally:
            for file, content in zip(("manifest.json", "manifest.json.copy"), original):
                repository.write(f"{backup_id}/{file}", content)

    def refused_by_mac():
        restored = tools.restore("--backup-id", backup_id, "--load", "bolt")
        assert_error(restored, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
        assert "manifest authentication failed" in restored.output
    truncated = archive[:sections[-1][0]]
    # The header and the first record block swapped (the graph fits one block).
    first, second = sections[1], sections[2]
    first_bytes = archive[first[0]:first[0] + 9 + len(first[2])]
    second_bytes = archive[second[0]:second[0] + 9 + len(second[2])]
    reordered = archive[:first[0]] + second_bytes + first_bytes + archive[second[0] + len(second_bytes):]
    assert len(reordered) == len(archive) and reordered != archive
    for data in (bytes(flipped), truncated, reordered):
        with_matching_checksum(data, refused_by_mac)

    # The Python reader, given the key, says which block.
    master_manifest = repository.manifest(backup_id)
    assert master_manifest == manifest
    with pytest.raises(fmt.Damaged, match=f"section at {blocks[0][0]}: CRC"):
        fmt.split_sections(bytes(flipped))  # located without the key
    assert graph_snapshot(neo4j_target) == before


@pytest.mark.parametrize("field", ["nodes", "sha256"])
def test_manifest_with_a_changed_count_or_checksum_is_refused(repo, neo4j_target, field):
    tools, repository, backup_id = repo
    manifest = repository.manifest(backup_id)
    changed = json.loads(json.dumps(manifest), parse_float=RawFloat)
    if field == "nodes":
        changed["stats"]["nodes"] += 1
    else:
        changed["archive"]["sha256"] = "0" * 64
    original = [repository.read(f"{backup_id}/{name}") for name in ("manifest.json", "manifest.json.copy")]
    before = mark_target(neo4j_target)
    repository.write_manifest(backup_id, changed)
    try:
        restored = tools.restore("--backup-id", backup_id, "--load", "bolt")
        assert_error(restored, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
        assert "manifest authentication failed" in restored.output
        validated = tools.backup("--validate", backup_id)
        assert_error(validated, BACKUP_CORRUPTED, "BACKUP_CORRUPTED")
    finally:
        for name, content in zip(("manifest.json", "manifest.json.copy"), original):
            repository.write(f"{backup_id}/{name}", content)
    assert graph_snapshot(neo4j_target) == before


def test_import_load_and_promotion_of_an_encrypted_backup(repo, secret_graph, neo4j_target):
    tools, repository, backup_id = repo
    if repository.kind != "local":
        pytest.skip("the import load and promotion run once (local); object storage shares the code path")
    expected = graph_snapshot(secret_graph)
    offline = {"TEST_NEO4J_HOME": str(neo4j_target.home),
               "TEST_NEO4J_STOP_COMMAND": launcher_command("stop", neo4j_target),
               "TEST_NEO4J_START_COMMAND": launcher_command("start", neo4j_target)}
    imported = tools.restore("--backup-id", backup_id, "--load", "import", env=offline)
    assert imported.returncode == 0, imported.output
    assert imported.stdout.count("... PASS") == 5, imported.output
    assert graph_snapshot(neo4j_target) == expected

    secret_graph.run("CREATE (:AddedAfterBackup {note: 'must disappear on promotion'})")
    promoted = tools.restore("--backup-id", backup_id, "--promote", "--yes", env={"RESTORE_LOAD": "bolt"})
    assert promoted.returncode == 0, promoted.output
    assert graph_snapshot(secret_graph) == expected
    listed = json.loads(tools.backup("--list", "--json").stdout)["backups"]
    safety = [entry for entry in listed if entry["id"] != backup_id]
    assert safety and all(entry["encrypted"] for entry in safety), listed  # the safety backup too
    for entry in safety:  # retention and --delete need no key
        deleted = tools.backup("--delete", entry["id"], "--force", env=NO_KEY)
        assert deleted.returncode == 0, deleted.output


def test_key_rotation(repo, keys, neo4j_target, secret_graph):
    """Every backup re-wrapped for the new key, archives unchanged; the old
    key opens none; a second run finds nothing to do; --dry-run changes nothing."""
    tools, repository, backup_id = repo
    second = tools.create()
    archives = {name: repository.read(name) for name in repository.names() if "/graph.nbk" in name}
    manifests = {name: repository.read(name) for name in repository.names() if "manifest" in name}
    rotate = {"BACKUP_ENCRYPTION_NEW_KEY_FILE": str(keys[1])}
    dry = tools.backup("--rotate-key", "--dry-run", env=rotate)
    assert dry.returncode == 0, dry.output
    assert {name: repository.read(name) for name in manifests} == manifests
    done = tools.backup("--rotate-key", env=rotate)
    assert done.returncode == 0, done.output
    assert "Re-wrapped: 2," in done.stdout
    again = tools.backup("--rotate-key", env=rotate)
    assert again.returncode == 0 and "already on the new key: 2" in again.stdout, again.output
    assert {name: repository.read(name) for name in archives} == archives
    new_key, old_key = {"BACKUP_ENCRYPTION_KEY_FILE": str(keys[1])}, {}
    for backup in (backup_id, second):
        assert repository.manifest(backup)["encryption"]["key_id"] == fmt.key_id(
            fmt.read_key_file(keys[1].read_text())).hex()
        assert_error(tools.restore("--backup-id", backup, "--dry-run", env=old_key), BACKUP_KEY_INVALID,
                     "BACKUP_KEY_INVALID")
        validated = tools.backup("--validate", backup, env=new_key)
        assert validated.returncode == 0 and "Blocks and records: PASSED" in validated.stdout, validated.output
    restored = tools.restore("--backup-id", second, "--load", "bolt", env=new_key)
    assert restored.returncode == 0, restored.output
    assert graph_snapshot(neo4j_target) == graph_snapshot(secret_graph)
    # Back to the module's key for any test that runs after this one.
    back = tools.backup("--rotate-key", env={"BACKUP_ENCRYPTION_KEY_FILE": str(keys[1]),
                                             "BACKUP_ENCRYPTION_NEW_KEY_FILE": str(keys[0])})
    assert back.returncode == 0, back.output
    assert tools.backup("--delete", second, "--force", env=NO_KEY).returncode == 0


def test_passphrase_key_record_in_the_repository(backup_bin, restore_bin, secret_graph, neo4j_target, tmp_path):
    storage = tmp_path / "backups"
    passphrase = {"BACKUP_ENCRYPTION_PASSPHRASE": f"correct horse {TOKEN}",
                  "BACKUP_ENCRYPTION_ARGON2_MEMORY_MIB": "8", "BACKUP_ENCRYPTION_ARGON2_PASSES": "1",
                  "BACKUP_STATE_DIR": str(tmp_path / "state")}
    tools = Tools(backup_bin, restore_bin, storage, production=secret_graph, target=neo4j_target, extra=passphrase)
    backup_id = tools.create()
    record = (storage / "nbk-key-record").read_bytes()
    assert len(record) == 57 and record[:8] == b"NBKKEYR1"
    assert f"correct horse {TOKEN}".encode() not in record
    assert tools.create() and (storage / "nbk-key-record").read_bytes() == record  # reused, not replaced
    ok = tools.restore("--backup-id", backup_id, "--dry-run")
    assert ok.returncode == 0, ok.output
    wrong = tools.restore("--backup-id", backup_id, "--dry-run",
                          env={"BACKUP_ENCRYPTION_PASSPHRASE": "wrong horse"})
    assert_error(wrong, BACKUP_KEY_INVALID, "BACKUP_KEY_INVALID")
    assert passphrase["BACKUP_ENCRYPTION_PASSPHRASE"] not in wrong.output


def test_dump_method_with_a_key_is_refused(backup_bin, restore_bin, secret_graph, keys, tmp_path):
    tools = Tools(backup_bin, restore_bin, tmp_path / "backups", production=secret_graph,
                  extra={"BACKUP_ENCRYPTION_KEY_FILE": str(keys[0])})
    result = tools.backup("--create", "--method", "dump")
    assert_error(result, CONFIG_INVALID, "CONFIG_INVALID")
    assert "BACKUP_METHOD=logical" in result.stderr
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())
