"""The ssh options backup-utils gets (``GHE_EXTRA_SSH_OPTS``) and the appliance's host keys.

Ours come first: ssh keeps the first value it sees for each ``-o`` option, and tries ``-i`` keys
in order, so a user's ``GHE_EXTRA_SSH_OPTS`` is appended and cannot displace our key or our
host-key checking. Options that decide which host key is trusted are ours alone: setting them
there is refused with the setting to use instead.

Host keys are pinned by default: ``GHE_KNOWN_HOSTS`` holds the appliance's keys (what
``ssh-keyscan -p 122 <host>`` prints, or just ``<type> <base64>`` lines), written to a known_hosts
file under the name ssh looks up for port 122, with ``StrictHostKeyChecking=yes``. Trusting the
first key seen (``accept-new``) must be chosen explicitly; its file is kept on the data volume,
so a new container does not trust a new key.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
import struct

from ghe_backup.errors import ConfigError

from .hostspec import HostSpec

#: Options that decide which host key is trusted (lower case, as ssh compares them).
CONTROLLED = {
    "stricthostkeychecking": "SSH_HOST_KEY_POLICY",
    "userknownhostsfile": "GHE_KNOWN_HOSTS",
    "globalknownhostsfile": "GHE_KNOWN_HOSTS",
    "knownhostscommand": "GHE_KNOWN_HOSTS",
    "hostkeyalias": "GHE_KNOWN_HOSTS",
}
KEY_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
}
_WHITESPACE = re.compile(r"\s")


class SshOptionsError(ConfigError):
    """The ssh options or the host keys cannot be used."""


def user_options(extra: str | None) -> list[str]:
    """The ``-o`` option names (lower case) in ``GHE_EXTRA_SSH_OPTS``."""
    if not extra:
        return []
    try:
        words = shlex.split(extra)
    except ValueError as err:
        raise SshOptionsError(
            f"GHE_EXTRA_SSH_OPTS cannot be split into words: {err}", hint="balance its quotes"
        ) from None
    names = []
    for index, word in enumerate(words):
        if word == "-o" and index + 1 < len(words):
            option = words[index + 1]
        elif word.startswith("-o") and len(word) > 2:
            option = word[2:]
        else:
            continue
        names.append(re.split(r"[=\s]", option.strip(), maxsplit=1)[0].lower())
    return names


def check_user_options(extra: str | None) -> None:
    """Refuse ``GHE_EXTRA_SSH_OPTS`` that cannot be split or that decide which host key is trusted."""
    for name in user_options(extra):
        if name in CONTROLLED:
            raise SshOptionsError(
                f"GHE_EXTRA_SSH_OPTS sets {name}, which decides which host key is trusted",
                hint=f"remove it; pin the appliance's keys with GHE_KNOWN_HOSTS "
                f"(or choose SSH_HOST_KEY_POLICY=accept-new); see {CONTROLLED[name]}",
            )


def ssh_options(*, key_path: str, known_hosts_path: str, policy: str, extra: str | None) -> str:
    """``GHE_EXTRA_SSH_OPTS`` for backup.config: ours, then the user's."""
    check_user_options(extra)
    # backup-utils splits the value on whitespace, unquoted: our paths must not contain any.
    for variable, path in (("SSH_KEY_PATH", key_path), ("GHE_DATA_DIR or GHE_BACKUP_CONFIG", known_hosts_path)):
        if _WHITESPACE.search(path):
            raise SshOptionsError(
                f"{path!r} contains whitespace, which backup-utils cannot pass to ssh",
                hint=f"set {variable} to a path without spaces",
            )
    checking = "yes" if policy == "pinned" else "accept-new"
    ours = f"-i {key_path} -o UserKnownHostsFile={known_hosts_path} -o StrictHostKeyChecking={checking}"
    return f"{ours} {extra}" if extra else ours


def parse_host_keys(text: str) -> list[tuple[str, str]]:
    """(type, base64) of each key in ``GHE_KNOWN_HOSTS``; a leading host field is ignored."""
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        where = f"GHE_KNOWN_HOSTS line {number}"
        if fields[0].startswith("@"):
            raise SshOptionsError(
                f"{where} has the marker {fields[0]}, which is not supported",
                hint="give the appliance's host keys themselves",
            )
        if fields[0] not in KEY_TYPES:
            fields = fields[1:]  # "host[,host...] type key": the host is ours (GHE_HOSTNAME)
        if len(fields) < 2 or fields[0] not in KEY_TYPES:
            raise SshOptionsError(
                f"{where} is not a host key",
                hint="use lines as ssh-keyscan -p 122 <host> prints them, or '<type> <base64>'",
            )
        if not _key_matches_type(fields[0], fields[1]):
            raise SshOptionsError(
                f"{where} has a {fields[0]} key that is not valid base64 of that type",
                hint="copy the line again, whole",
            )
        keys.append((fields[0], fields[1]))
    if not keys:
        raise SshOptionsError(
            "GHE_KNOWN_HOSTS has no host key", hint="use lines as ssh-keyscan -p 122 <host> prints them"
        )
    return keys


def _key_matches_type(key_type: str, encoded: str) -> bool:
    # The SSH wire format starts with the key type as a length-prefixed string.
    try:
        blob = base64.b64decode(encoded, validate=True)
        (length,) = struct.unpack(">I", blob[:4])
    except (binascii.Error, ValueError, struct.error):
        return False
    return blob[4 : 4 + length] == key_type.encode()


def render_known_hosts(host: HostSpec, keys: list[tuple[str, str]]) -> str:
    lines = ["# Written by ghe-backup-service from GHE_KNOWN_HOSTS at container start; edits are overwritten.\n"]
    lines += [f"{host.known_hosts_name()} {key_type} {key}\n" for key_type, key in keys]
    return "".join(lines)
