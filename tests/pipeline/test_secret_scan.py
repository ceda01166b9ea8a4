"""A secret committed to Git is caught by the scanner `make lint` runs, and never echoed."""

from __future__ import annotations

import json
import secrets
import shutil
import string
import subprocess
from pathlib import Path

from tests.pipeline.conftest import ROOT


def _git(repo: Path, *args: str) -> None:
    env_args = ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *env_args, *args], cwd=repo, check=True, capture_output=True)


def _scratch_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    shutil.copy(ROOT / ".gitleaks.toml", repo)
    (repo / "README.md").write_text("clean\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "clean start")
    return repo


def _scan(bin_dir: Path, repo: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(bin_dir / "gitleaks"), "git", "--config", ".gitleaks.toml", "--redact", "--no-banner"]
    cmd += ["--report-format", "json", "--report-path", "-", "--exit-code", "1", *extra, "."]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=False)


def _private_key(tmp_path: Path) -> str:
    """A real, freshly generated OpenSSH private key (never a literal in this file)."""
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.read_text()


def _github_token() -> str:
    alphabet = string.ascii_letters + string.digits
    return "ghp" + "_" + "".join(secrets.choice(alphabet) for _ in range(36))


def test_clean_history_passes(tools_bin: Path, tmp_path: Path) -> None:
    repo = _scratch_repo(tmp_path)
    assert _scan(tools_bin, repo).returncode == 0


def test_planted_key_and_token_in_a_commit_are_caught_and_redacted(tools_bin: Path, tmp_path: Path) -> None:
    repo = _scratch_repo(tmp_path)
    key, token = _private_key(tmp_path), _github_token()
    (repo / "deploy_key").write_text(key)
    (repo / "ci.env").write_text(f"GITHUB_TOKEN={token}\n")
    _git(repo, "add", "deploy_key", "ci.env")
    _git(repo, "commit", "-q", "-m", "oops")
    # "Removing" them in a later commit does not hide them from the history scan.
    _git(repo, "rm", "-q", "deploy_key", "ci.env")
    _git(repo, "commit", "-q", "-m", "remove")

    result = _scan(tools_bin, repo)
    assert result.returncode == 1, result.stderr
    rules = {(f["RuleID"], f["File"]) for f in json.loads(result.stdout)}
    assert ("private-key", "deploy_key") in rules
    assert ("github-pat", "ci.env") in rules
    output = result.stdout + result.stderr
    assert token not in output and token[4:] not in output
    assert key.splitlines()[1] not in output


def test_a_proxmox_token_staged_but_not_committed_is_caught(tools_bin: Path, tmp_path: Path) -> None:
    repo = _scratch_repo(tmp_path)
    uuid = "-".join(secrets.token_hex(n) for n in (4, 2, 2, 2, 6))
    (repo / "Pulumi.prod.yaml").write_text(f"config:\n  fabric:token: ci@pve!apply={uuid}\n")
    _git(repo, "add", "Pulumi.prod.yaml")
    assert _scan(tools_bin, repo).returncode == 0  # nothing committed yet
    staged = _scan(tools_bin, repo, "--staged")
    assert staged.returncode == 1
    assert "proxmox-api-token" in staged.stdout
    assert uuid not in staged.stdout + staged.stderr
