"""``GHE_HOSTNAME``: the appliance, in the forms backup-utils understands.

backup-utils reads ``[user@]host[:port]``: the text after the last colon is the port, and the
port must be 122 (the appliance's administrative SSH port; ``host:22`` is refused there, at the
first backup). IPv6 addresses therefore only work in its form ``<address>:122``; we also accept
the usual bracketed ``[<address>]`` / ``[<address>]:122`` and write backup-utils' form.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ghe_backup.errors import ConfigError

ADMIN_SSH_PORT = 122
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
_EXAMPLE = "e.g. github.example.com, admin@github.example.com or [2001:db8::1]"


class HostnameError(ConfigError):
    """``GHE_HOSTNAME`` is missing or not a host backup-utils can reach."""


@dataclass(frozen=True)
class HostSpec:
    user: str | None
    host: str  # a DNS name, an IPv4 or an IPv6 address (without brackets)
    ipv6: bool = False

    def for_backup_utils(self) -> str:
        """The value of backup.config's GHE_HOSTNAME."""
        prefix = f"{self.user}@" if self.user else ""
        return f"{prefix}{self.host}:{ADMIN_SSH_PORT}" if self.ipv6 else f"{prefix}{self.host}"

    def known_hosts_name(self) -> str:
        """How ssh looks the host up in known_hosts when it connects to port 122."""
        return f"[{self.host}]:{ADMIN_SSH_PORT}"


def _error(value: str, problem: str, hint: str = f"use [user@]host[:{ADMIN_SSH_PORT}], {_EXAMPLE}") -> HostnameError:
    return HostnameError(f"GHE_HOSTNAME={value!r} {problem}", hint=hint)


def parse_hostname(value: str | None) -> HostSpec:
    """Check ``GHE_HOSTNAME`` and split it; errors name the variable and the fix."""
    if not value:
        raise HostnameError(
            "GHE_HOSTNAME is not set", hint="set GHE_HOSTNAME to the appliance's host name, e.g. github.example.com"
        )
    user, at, rest = value.rpartition("@")
    if at and not _USER.match(user):
        raise _error(value, f"has an invalid user name {user!r}")
    user = user or None
    if rest.startswith("["):
        address, _, port = rest[1:].partition("]")
        port = port[1:] if port.startswith(":") else port or None
        return _checked_port(value, HostSpec(user, _ipv6(value, address), ipv6=True), port, bracketed=True)
    if rest.count(":") > 1:  # backup-utils' own IPv6 form: the port after the last colon
        address, _, port = rest.rpartition(":")
        if port != str(ADMIN_SSH_PORT):
            raise _error(
                value,
                "is an IPv6 address without a port, or with a port other than 122",
                hint=f"write it in brackets, e.g. [2001:db8::1], or as backup-utils does, 2001:db8::1:{ADMIN_SSH_PORT}",
            )
        return HostSpec(user, _ipv6(value, address), ipv6=True)
    host, _, port = rest.partition(":")
    return _checked_port(value, HostSpec(user, _dns_or_ipv4(value, host)), port or None, bracketed=False)


def _checked_port(value: str, spec: HostSpec, port: str | None, *, bracketed: bool) -> HostSpec:
    if port is None or port == str(ADMIN_SSH_PORT):
        return spec
    if not port.isdigit():
        raise _error(value, "has an invalid port")
    shown = f"[{spec.host}]" if bracketed else spec.host
    raise _error(
        value,
        f"names port {port}, but backup-utils only connects to the appliance's "
        f"administrative SSH port {ADMIN_SSH_PORT}",
        hint=f"use {shown} or {shown}:{ADMIN_SSH_PORT}",
    )


def _ipv6(value: str, address: str) -> str:
    try:
        return str(ipaddress.IPv6Address(address))
    except ValueError:
        raise _error(value, f"has {address!r}, which is not an IPv6 address") from None


def _dns_or_ipv4(value: str, host: str) -> str:
    labels = host.rstrip(".").split(".")
    if not host or len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _error(
            value,
            "is not a valid host name",
            hint="use letters, digits and hyphens in dot-separated labels, e.g. github.example.com",
        )
    if labels[-1].isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise _error(value, "is not a valid IPv4 address") from None
    return host
