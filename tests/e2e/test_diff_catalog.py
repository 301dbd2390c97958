"""Differential chains in the catalog (issue 15), on forged differentials:
--list shows each backup's type, parent, own size and chain size; a broken
link makes a differential CORRUPTED (--validate records it, --dry-run does
not); --delete refuses a backup with dependants unless --force, and then
deletes them newest first; --cleanup keeps whole chains.

How differentials are forged: a real backup's directory is copied under new
ids, and each copy's manifest is edited into a differential (backup_type,
parent with the parent's link digest, chain_depth, changes) and resealed
(manifest_sha256). Their archives are still full archives: these tests are
about the catalog's rules, not the merged restore.
"""

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest

from helpers import Tools, _compact_json, assert_error, read_manifest, write_manifest

DAY = 86400


@pytest.fixture(scope="module")
def reference(backup_bin, restore_bin, tmp_path_factory, neo4j_server):
    """One real backup of the main server: its directory, copied by forge()."""
    storage = tmp_path_factory.mktemp("diff-reference") / "backups"
    backup_id = Tools(backup_bin, restore_bin, storage, production=neo4j_server).create()
    return storage / backup_id


@pytest.fixture
def tools(backup_bin, restore_bin, tmp_path, neo4j_server):
    return Tools(backup_bin, restore_bin, tmp_path / "backups", production=neo4j_server)


def link_digest(manifest):
    """manifestLinkSha256: the canonical manifest without the fields that
    change after the backup is written (status, validated_at, keep, and the
    wrapped key and key id)."""
    body = {key: value for key, value in manifest.items()
            if key not in ("manifest_sha256", "status", "validated_at", "keep")}
    if isinstance(body.get("encryption"), dict):
        body["encryption"] = {key: value for key, value in body["encryption"].items()
                              if key not in ("key_id", "wrapped_key")}
    return hashlib.sha256(_compact_json(body).encode()).hexdigest()


def backup_id_at(created: int) -> str:
    return time.strftime("neo4j-%Y%m%d-%H%M%S", time.gmtime(created))


def forge(storage: Path, reference: Path, created: int, parent: str = None) -> str:
    """A backup created at `created`: a full one, or a differential of parent."""
    backup_id = backup_id_at(created)
    storage.mkdir(parents=True, exist_ok=True)
    shutil.copytree(reference, storage / backup_id)
    manifest = read_manifest(storage / backup_id)
    manifest["id"] = backup_id
    manifest["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    manifest.pop("expires", None)
    if parent:
        parent_manifest = read_manifest(storage / parent)
        depth = parent_manifest.get("chain_depth", 0) + 1
        chain = {"backup_type": "diff",
                 "parent": {"id": parent, "manifest_sha256": link_digest(parent_manifest)},
                 "chain_depth": depth,
                 "changes": {"nodes": 3, "relationships": 2, "deleted_nodes": 1, "deleted_relationships": 0}}
        # In the order the tool writes them: right after "keep".
        edited = {}
        for key, value in manifest.items():
            if key not in chain and key != "backup_type":
                edited[key] = value
            if key == "keep":
                edited.update(chain)
        manifest = edited
    write_manifest(storage / backup_id, manifest, reseal=True)
    return backup_id


def chain_of_three(tools: Tools, reference: Path, base: int):
    full = forge(tools.storage, reference, base)
    first = forge(tools.storage, reference, base + DAY, full)
    second = forge(tools.storage, reference, base + 2 * DAY, first)
    return full, first, second


def listed(tools: Tools):
    result = tools.backup("--list", "--json")
    assert result.returncode == 0, result.output
    return {item["id"]: item for item in json.loads(result.stdout)["backups"]}


def test_list_shows_type_parent_and_chain_size(tools, reference):
    full, first, second = chain_of_three(tools, reference, int(time.time()) - 3 * DAY)
    own = read_manifest(tools.storage / full)["archive"]["size_compressed"]
    items = listed(tools)
    assert items[full]["type"] == "full" and "parent_id" not in items[full]
    assert items[second]["type"] == "diff"
    assert items[second]["parent_id"] == first
    assert items[second]["own_bytes"] == own
    assert items[second]["chain_bytes"] == 3 * own
    assert items[second]["chain_backups"] == 3
    assert items[second]["chain_complete"] is True
    assert items[second]["chain_mixed_keys"] is False
    assert items[second]["status"].startswith("COMPLETE")

    text = tools.backup("--list")
    assert text.returncode == 0, text.output
    assert f"  Type:           differential (depth 2) of {first}" in text.stdout
    assert "  Type:           full" in text.stdout
    assert "  Chain Size:" in text.stdout and "(3 backups)" in text.stdout


def test_broken_link_makes_the_differential_corrupted(tools, reference):
    full, first, second = chain_of_three(tools, reference, int(time.time()) - 3 * DAY)
    # An intact chain: every link and its archive pass, then the content is
    # read merged, which refuses the forged differential (a full archive,
    # where a differential's format is nbk-logical-diff-1).
    result = tools.backup("--validate", first, "--dry-run")
    assert "Chain links: PASSED (2 backups" in result.stdout, result.output
    assert f"Chain link {full}: archive checksum PASSED" in result.stdout
    assert_error(result, 11, "BACKUP_CORRUPTED")
    assert "broken" not in result.output

    # The parent's manifest changed after the differential was taken.
    manifest = read_manifest(tools.storage / first)
    manifest["stats"]["nodes"] += 1
    write_manifest(tools.storage / first, manifest, reseal=True)
    items = listed(tools)
    assert items[second]["status"] == "CORRUPTED"
    assert f"the chain is broken at {first}" in items[second]["problem"]
    assert items[first]["status"].startswith("COMPLETE")

    # --validate --dry-run says so and records nothing; --validate records it.
    result = tools.backup("--validate", second, "--dry-run")
    assert_error(result, 11, "BACKUP_CORRUPTED")
    assert f"the chain of {second} is broken at {first}" in result.output
    assert read_manifest(tools.storage / second)["status"] == "COMPLETE"
    result = tools.backup("--validate", second)
    assert_error(result, 11, "BACKUP_CORRUPTED")
    recorded = read_manifest(tools.storage / second)
    assert recorded["status"] == "CORRUPTED"
    assert f"broken at {first}" in recorded["failure_reason"]

    # A parent gone: every differential after it is broken there.
    shutil.rmtree(tools.storage / full)
    items = listed(tools)
    assert items[first]["status"] == "CORRUPTED"
    assert f"the chain is broken at {full}: it is missing" in items[first]["problem"]


def test_delete_refuses_a_backup_with_dependants_unless_forced(tools, reference):
    base = int(time.time()) - 4 * DAY
    full, first, second = chain_of_three(tools, reference, base)
    other = forge(tools.storage, reference, base + 3 * DAY)
    result = tools.backup("--delete", full)
    assert_error(result, 33, "BACKUP_PROTECTED")
    assert "has 2 dependants" in result.output
    assert "Use --force to delete it and its 2 dependants" in result.output
    assert sorted(p.name for p in tools.storage.iterdir() if p.name.startswith("neo4j-")) == sorted(
        [full, first, second, other])

    result = tools.backup("--delete", full, "--force", "--dry-run")
    assert result.returncode == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "would delete backup" in line]
    assert [line.split("would delete backup ")[1].split(" ")[0] for line in lines] == [second, first, full]
    assert (tools.storage / second).is_dir()

    # The newest differential has no dependants: it goes alone.
    result = tools.backup("--delete", second)
    assert result.returncode == 0, result.output
    result = tools.backup("--delete", full, "--force")
    assert result.returncode == 0, result.output
    assert f"Deleting backup {first} (a differential that depends on {full})" in result.stdout
    assert result.stdout.index(f"Deleting backup {first}") < result.stdout.index(f"Deleting backup {full}...")
    assert sorted(p.name for p in tools.storage.iterdir() if p.name.startswith("neo4j-")) == [other]


def test_cleanup_keeps_whole_chains(tools, reference):
    now = int(time.time())
    old_full = forge(tools.storage, reference, now - 40 * DAY)
    old_diff = forge(tools.storage, reference, now - 39 * DAY, old_full)
    full = forge(tools.storage, reference, now - 20 * DAY)
    first = forge(tools.storage, reference, now - 10 * DAY, full)
    second = forge(tools.storage, reference, now - 2 * DAY, first)
    env = {"BACKUP_RETENTION_DAYS": "7", "BACKUP_KEEP_WEEKLY": "0", "BACKUP_KEEP_MONTHLY": "0"}
    result = tools.backup("--cleanup", "--dry-run", env=env)
    assert result.returncode == 0, result.output
    assert old_diff in result.stdout and old_full in result.stdout
    assert (tools.storage / old_diff).is_dir()
    result = tools.backup("--cleanup", env=env)
    assert result.returncode == 0, result.output
    remaining = sorted(p.name for p in tools.storage.iterdir() if p.name.startswith("neo4j-"))
    # The daily differential keeps its 20-day-old full and the differential between.
    assert remaining == sorted([full, first, second])


def test_real_differential_validates_and_lists(tools):
    """A differential made by --create (no change since its full): --validate
    reads its chain merged and passes; --list shows its chain; its full
    cannot be deleted alone."""
    full = tools.create()
    result = tools.backup("--create", env={"BACKUP_TYPE": "diff"})
    assert result.returncode == 0, result.output
    diff = [name for name in listed(tools) if name != full][0]
    items = listed(tools)
    assert items[diff]["type"] == "diff" and items[diff]["parent_id"] == full
    assert items[diff]["chain_bytes"] == items[diff]["own_bytes"] + items[full]["own_bytes"]
    result = tools.backup("--validate", diff)
    assert result.returncode == 0, result.output
    assert "Chain links: PASSED (2 backups" in result.stdout
    assert listed(tools)[diff]["status"] == "COMPLETE, VALIDATED"
    # Validating the differential changed nothing its chain depends on.
    assert listed(tools)[full]["status"].startswith("COMPLETE")
    result = tools.backup("--delete", full)
    assert_error(result, 33, "BACKUP_PROTECTED")


def test_encrypted_differential_validates(tools, run_cli, backup_bin, tmp_path):
    """An encrypted chain: --validate with the key reads it merged and
    records VALIDATED; its links share one key (not mixed)."""
    key = tmp_path / "chain.key"
    generated = run_cli([backup_bin, "--generate-key", str(key)], env={})
    assert generated.returncode == 0, generated.stderr
    env = {"BACKUP_ENCRYPTION_KEY_FILE": str(key)}
    full = tools.create(env=env)
    result = tools.backup("--create", env={**env, "BACKUP_TYPE": "diff"})
    assert result.returncode == 0, result.output
    diff = [name for name in listed(tools) if name != full][0]
    result = tools.backup("--validate", diff, env=env)
    assert result.returncode == 0, result.output
    assert "Chain links: PASSED (2 backups" in result.stdout
    items = listed(tools)
    assert items[diff]["status"] == "COMPLETE, VALIDATED"
    assert items[diff]["encrypted"] is True and items[diff]["chain_mixed_keys"] is False
    # A differential forced (--type diff) with a key on a full without one: said in --list.
    plain = tools.storage.parent / "plain"
    mixed = Tools(tools.backup_bin, tools.restore_bin, plain, production=tools.production)
    mixed.create()
    result = mixed.backup("--create", env={**env, "BACKUP_TYPE": "diff"})
    assert result.returncode == 0, result.output
    text = mixed.backup("--list")
    assert "Chain Keys:     MIXED" in text.stdout, text.output
    assert any(item.get("chain_mixed_keys") for item in json.loads(
        mixed.backup("--list", "--json").stdout)["backups"])
