"""Our ssh options survive a user's GHE_EXTRA_SSH_OPTS; host keys are pinned by default.

Checked with the real OpenSSH client: ``ssh -G`` prints the configuration ssh would use, and
``ssh-keygen -F`` looks a host up in a known_hosts file the way ssh does on port 122.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest
from conftest import host_key_line

from ghe_backup.backup.hostspec import parse_hostname
from ghe_backup.backup.ssh_options import SshOptionsError, parse_host_keys, render_known_hosts, ssh_options

needs_ssh = pytest.mark.skipif(not shutil.which("ssh"), reason="needs the OpenSSH client")


def _effective(options: str) -> dict[str, list[str]]:
    """What ssh would use with these options for backup-utils' connection (ssh -G)."""
    out = subprocess.run(
        ["ssh", "-G", *shlex.split(options), "-p", "122", "github.example.com"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    config: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        config.setdefault(key, []).append(value)
    return config


@needs_ssh
def test_ours_win_over_a_users_extra_options(tmp_path):
    key, other = tmp_path / "id_rsa", tmp_path / "other_key"
    key.touch()
    other.touch()  # ssh -G lists only identity files that exist
    user = f"-i {other} -o ConnectTimeout=7 -o ServerAliveInterval=5 -v"
    options = ssh_options(
        key_path=str(key), known_hosts_path="/etc/github-backup-utils/known_hosts", policy="pinned", extra=user
    )
    config = _effective(options)
    assert config["identityfile"] == [str(key), str(other)]  # ours is tried first
    assert config["stricthostkeychecking"] == ["true"]
    assert config["userknownhostsfile"] == ["/etc/github-backup-utils/known_hosts"]
    assert config["connecttimeout"] == ["7"] and config["serveraliveinterval"] == ["5"]


@needs_ssh
def test_accept_new_is_what_ssh_uses_when_chosen(tmp_path):
    options = ssh_options(
        key_path="/k", known_hosts_path="/data/d/.ghe-backup-known_hosts", policy="accept-new", extra=None
    )
    assert _effective(options)["stricthostkeychecking"] == ["accept-new"]


@pytest.mark.parametrize(
    "extra",
    [
        "-o StrictHostKeyChecking=no",
        "-oStrictHostKeyChecking=no",
        "-o UserKnownHostsFile=/dev/null",
        "-o stricthostkeychecking no",
        "-o GlobalKnownHostsFile=/tmp/x",
        "-o HostKeyAlias=other",
    ],
)
def test_options_that_decide_host_key_trust_are_refused(extra):
    with pytest.raises(SshOptionsError) as err:
        ssh_options(key_path="/k", known_hosts_path="/kh", policy="pinned", extra=extra)
    assert str(err.value).startswith("GHE_EXTRA_SSH_OPTS sets ") and "GHE_KNOWN_HOSTS" in str(err.value)
    assert err.value.exit_code == 2


def test_paths_with_whitespace_are_refused_because_backup_utils_splits_them():
    with pytest.raises(SshOptionsError, match="SSH_KEY_PATH"):
        ssh_options(key_path="/root/my keys/id", known_hosts_path="/kh", policy="pinned", extra=None)


@needs_ssh
def test_keyscan_lines_are_pinned_under_the_name_ssh_looks_up_on_port_122(tmp_path):
    host = parse_hostname("admin@github.example.com")
    scanned = (
        f"# github.example.com:122 SSH-2.0-babeld\n[github.example.com]:122 {host_key_line(1)}\n"
        f"github.example.com {host_key_line(2)} comment\n\n{host_key_line(3)}\n"
    )
    keys = parse_host_keys(scanned)
    assert [k[1] for k in keys] == [host_key_line(n).split()[1] for n in (1, 2, 3)]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(render_known_hosts(host, keys))
    found = subprocess.run(
        ["ssh-keygen", "-F", "[github.example.com]:122", "-f", str(known_hosts)], capture_output=True, text=True
    )
    assert found.returncode == 0 and found.stdout.count("ssh-ed25519") == 3
    other = subprocess.run(["ssh-keygen", "-F", "[evil.example.com]:122", "-f", str(known_hosts)], capture_output=True)
    assert other.returncode != 0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "has no host key"),
        ("# only a comment\n", "has no host key"),
        ("github.example.com ssh-ed25519\n", "line 1 is not a host key"),
        ("@cert-authority * ssh-ed25519 AAAA\n", "marker @cert-authority"),
        ("ssh-ed25519 not-base64!!\n", "not valid base64 of that type"),
        (f"ssh-rsa {host_key_line().split()[1]}\n", "not valid base64 of that type"),  # an ed25519 blob
    ],
)
def test_bad_host_keys_name_the_variable_and_line(text, fragment):
    with pytest.raises(SshOptionsError) as err:
        parse_host_keys(text)
    assert str(err.value).startswith("GHE_KNOWN_HOSTS") and fragment in str(err.value)
