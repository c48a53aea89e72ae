"""botadmin/networks.py: the settings listing CIDRs (BOTADMIN_TRUSTED_PROXIES,
BOTADMIN_AGENT_NETWORKS, BOTADMIN_OUTBOUND_PROXY_NETWORKS) read one way, each value
parsed once."""

import ipaddress

import pytest

from botadmin.networks import parse_networks, setting_networks


def test_addresses_and_networks_with_host_bits_are_networks_and_blanks_are_left_out():
    assert parse_networks(["127.0.0.1", " 10.0.3.7/24 ", "", "fd00::/8"]) == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.3.0/24"),
        ipaddress.ip_network("fd00::/8"),
    )


def test_a_value_that_is_no_cidr_is_refused():
    with pytest.raises(ValueError, match="squid.internal"):
        parse_networks(["10.0.0.5/32", "squid.internal"])


@pytest.mark.parametrize(
    "name",
    ["BOTADMIN_TRUSTED_PROXIES", "BOTADMIN_AGENT_NETWORKS", "BOTADMIN_OUTBOUND_PROXY_NETWORKS"],
)
def test_a_setting_is_parsed_once_per_value_and_read_as_it_is_now(settings, name):
    setattr(settings, name, ["10.0.0.5/32"])
    first = setting_networks(name)
    assert setting_networks(name) is first  # the same value: not parsed again

    setattr(settings, name, ["10.0.0.6/32"])

    assert setting_networks(name) == (ipaddress.ip_network("10.0.0.6/32"),)
