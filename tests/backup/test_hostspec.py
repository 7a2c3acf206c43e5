"""GHE_HOSTNAME in the forms backup-utils accepts, and the one it refuses at the first backup."""

from __future__ import annotations

import pytest

from ghe_backup.backup.hostspec import HostnameError, parse_hostname


@pytest.mark.parametrize(
    ("value", "for_backup_utils", "known_hosts_name"),
    [
        ("github.example.com", "github.example.com", "[github.example.com]:122"),
        ("ghe", "ghe", "[ghe]:122"),
        ("ghe-1.corp.example.org:122", "ghe-1.corp.example.org", "[ghe-1.corp.example.org]:122"),
        ("10.1.2.3", "10.1.2.3", "[10.1.2.3]:122"),
        ("a.b.c.", "a.b.c.", "[a.b.c.]:122"),
        ("admin@github.example.com", "admin@github.example.com", "[github.example.com]:122"),
        ("admin@10.1.2.3:122", "admin@10.1.2.3", "[10.1.2.3]:122"),
        ("[2001:db8::1]", "2001:db8::1:122", "[2001:db8::1]:122"),
        ("[2001:db8::1]:122", "2001:db8::1:122", "[2001:db8::1]:122"),
        ("admin@[2001:0db8:0::1]", "admin@2001:db8::1:122", "[2001:db8::1]:122"),
        ("2001:db8::1:122", "2001:db8::1:122", "[2001:db8::1]:122"),  # backup-utils' own form
    ],
)
def test_accepted_forms(value, for_backup_utils, known_hosts_name):
    spec = parse_hostname(value)
    assert spec.for_backup_utils() == for_backup_utils and spec.known_hosts_name() == known_hosts_name


def test_port_22_is_refused_because_backup_utils_only_speaks_to_122():
    with pytest.raises(HostnameError) as err:
        parse_hostname("github.example.com:22")
    message = str(err.value)
    assert message.startswith("GHE_HOSTNAME='github.example.com:22' names port 22")
    assert "port 122" in message and "use github.example.com or github.example.com:122" in message
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("github.example.com:5000", "names port 5000"),
        ("[2001:db8::1]:22", "names port 22"),
        ("2001:db8::1", "IPv6 address without a port"),  # ambiguous: backup-utils reads ":1" as the port
        ("[2001:db8::zz]", "not an IPv6 address"),
        ("bad user@github.example.com", "invalid user name"),
        ("@github.example.com", "invalid user name"),
        ("github.example.com:abc", "invalid port"),
        ("-bad.example.com", "not a valid host name"),
        ("bad-.example.com", "not a valid host name"),
        ("ex ample.com", "not a valid host name"),
        ("a..b", "not a valid host name"),
        ("host_name.com", "not a valid host name"),
        ("1.2.3.999", "not a valid IPv4 address"),
        ("x" * 64 + ".com", "not a valid host name"),
        ("github.example.com;rm -rf /", "not a valid host name"),
    ],
)
def test_refused_forms_name_the_variable_and_the_fix(value, fragment):
    with pytest.raises(HostnameError) as err:
        parse_hostname(value)
    assert str(err.value).startswith(f"GHE_HOSTNAME={value!r}") and fragment in str(err.value)
    assert "(" in str(err.value)  # a hint follows


def test_missing_hostname_says_how_to_fix():
    with pytest.raises(HostnameError, match=r"GHE_HOSTNAME is not set \(set GHE_HOSTNAME"):
        parse_hostname(None)
