"""neo4j-backup --generate-key <file> (issue 14, docs/encryption.md 1.1): a
new random master key file, mode 0600, in the documented text form; never
over an existing file or through a link. No Neo4j server is needed."""
import hashlib
import os
import re
import stat

STATUS_CONFIG_INVALID = 21


def generate(run_cli, backup_bin, path, *extra):
    # No storage path or Neo4j settings: generating a key needs neither.
    return run_cli([backup_bin, "--generate-key", path, *extra],
                   env={"BACKUP_STORAGE_PATH": None, "NEO4J_URI": None})


def test_generate_key_writes_a_private_key_file(run_cli, backup_bin, tmp_path):
    path = tmp_path / "master.key"
    result = generate(run_cli, backup_bin, path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert re.fullmatch(r"nbk-key-v1:[0-9a-f]{64}\n", text)
    key = bytes.fromhex(text[11:75])
    key_id = hashlib.blake2b(b"nbk master key id v1", digest_size=16, key=key).hexdigest()
    lines = result.stdout.splitlines()
    assert lines[0] == "INFO: Generating a new encryption key..."
    assert f"INFO: Key file: {path} (mode 0600)" in lines
    assert f"INFO: Key ID: {key_id}" in lines
    assert lines[-1] == "SUCCESS: Encryption key generated"
    # The key itself is never printed.
    assert text[11:75] not in result.stdout + result.stderr
    # Each run draws a new key.
    other = tmp_path / "other.key"
    assert generate(run_cli, backup_bin, other).returncode == 0
    assert other.read_text() != text


def test_generate_key_refuses_to_overwrite(run_cli, backup_bin, tmp_path):
    path = tmp_path / "master.key"
    path.write_text("precious\n")
    result = generate(run_cli, backup_bin, path)
    assert result.returncode == STATUS_CONFIG_INVALID
    assert "ERROR: Failed to generate encryption key" in result.stdout + result.stderr
    assert "refusing to overwrite" in result.stdout + result.stderr
    assert path.read_text() == "precious\n"


def test_generate_key_never_writes_through_a_link(run_cli, backup_bin, tmp_path):
    target = tmp_path / "elsewhere.key"
    link = tmp_path / "link.key"
    os.symlink(target, link)  # dangling: O_EXCL must not create its target
    result = generate(run_cli, backup_bin, link)
    assert result.returncode != 0
    assert not target.exists()


def test_generate_key_dry_run_writes_nothing(run_cli, backup_bin, tmp_path):
    path = tmp_path / "master.key"
    result = generate(run_cli, backup_bin, path, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would write a new encryption key" in result.stdout
    assert not path.exists()


def test_generate_key_is_an_action_of_its_own(run_cli, backup_bin, tmp_path):
    result = generate(run_cli, backup_bin, tmp_path / "k", "--list")
    assert result.returncode == 2
    assert "cannot be combined" in result.stderr
    assert not (tmp_path / "k").exists()
