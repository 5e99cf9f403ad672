"""The testbed's HAProxy configuration: the balance lines for every policy and affinity,
loopback only, one checked server line per server, and ``haproxy -c`` accepts it all."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, get_args

import pytest

from simulator.errors import AuthsimError
from simulator.scenario.models import LoadBalancer, Scenario, Sticky, StrategyName
from simulator.testbed.haproxy import (
    TestbedError,
    balance_directives,
    check_config,
    find_binary,
    haproxy_config,
    haproxy_version,
    routing_difference,
)

POLICIES: tuple[str, ...] = get_args(LoadBalancer.model_fields["policy"].annotation)
AFFINITIES: tuple[str, ...] = get_args(Sticky.model_fields["affinity"].annotation)
SERVERS = [("127.0.0.1", 9101), ("127.0.0.1", 9102), ("127.0.0.1", 9103)]


def scenario(policy: str = "round_robin", affinity: str = "cookie", **more: Any) -> Scenario:
    data = {
        "name": "unit",
        "load_balancer": {"policy": policy, "health_check_interval_s": 0.5},
        "sticky": {"affinity": affinity},
        **more,
    }
    return Scenario.model_validate(data)


def balancer(policy: str) -> LoadBalancer:
    return LoadBalancer.model_validate({"policy": policy})


def sticky(affinity: str = "cookie") -> Sticky:
    return Sticky.model_validate({"affinity": affinity})


def config(strategy: str, policy: str = "round_robin", affinity: str = "cookie") -> str:
    return haproxy_config(scenario(policy, affinity), SERVERS, 9100, strategy=strategy)


@pytest.mark.parametrize(
    ("policy", "line"),
    [
        ("round_robin", "balance roundrobin"),
        ("random", "balance random"),
        ("least_connections", "balance leastconn"),
        ("power_of_two", "balance random(2)"),
    ],
)
@pytest.mark.parametrize("strategy", ["local", "shared_store", "jwt"])
def test_non_sticky_strategies_balance_by_the_policy(strategy: str, policy: str, line: str) -> None:
    for affinity in AFFINITIES:  # the affinity matters only to sticky
        assert balance_directives(strategy, balancer(policy), sticky(affinity)) == [line]


def test_every_policy_has_a_balance_line() -> None:
    assert set(POLICIES) == {"round_robin", "random", "least_connections", "power_of_two"}


@pytest.mark.parametrize(
    ("affinity", "lines"),
    [
        ("cookie", ["balance leastconn", "cookie SERVERID insert indirect nocache"]),
        ("ip_hash", ["balance source"]),
        ("consistent_hash", ["balance source", "hash-type consistent"]),
    ],
)
def test_sticky_balances_by_the_affinity(affinity: str, lines: list[str]) -> None:
    assert balance_directives("sticky", balancer("least_connections"), sticky(affinity)) == lines


def test_sticky_cookie_first_requests_follow_every_policy() -> None:
    for policy in POLICIES:
        lines = balance_directives("sticky", balancer(policy), sticky())
        assert lines[0] == balance_directives("local", balancer(policy), sticky())[0]


def test_an_unknown_strategy_is_a_one_line_error() -> None:
    with pytest.raises(TestbedError, match="unknown strategy 'cookies'") as caught:
        balance_directives("cookies", LoadBalancer(), Sticky())
    assert isinstance(caught.value, AuthsimError)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("strategy", list(StrategyName))
def test_only_loopback_addresses(strategy: str) -> None:
    text = config(strategy)
    addresses = set(re.findall(r"\b\d+\.\d+\.\d+\.\d+\b", text))
    assert addresses == {"127.0.0.1"}
    binds = [line.split()[1] for line in text.splitlines() if line.strip().startswith("bind ")]
    assert binds == ["127.0.0.1:9100"]
    assert "*" not in text
    assert "::" not in text


def test_a_server_off_loopback_is_refused() -> None:
    with pytest.raises(TestbedError, match="not an IPv4 loopback"):
        haproxy_config(scenario(), [("10.0.0.1", 80)], 9100, strategy="local")


def test_one_checked_server_line_per_server() -> None:
    text = config("local")
    servers = [line.split() for line in text.splitlines() if line.strip().startswith("server ")]
    assert [words[1:3] for words in servers] == [
        ["s0", "127.0.0.1:9101"],
        ["s1", "127.0.0.1:9102"],
        ["s2", "127.0.0.1:9103"],
    ]
    for words in servers:
        assert words[3:9] == ["check", "inter", "500ms", "fall", "1", "rise"]
    assert "option httpchk GET /health" in text


@pytest.mark.parametrize("strategy", list(StrategyName))
@pytest.mark.parametrize("affinity", AFFINITIES)
def test_cookie_lines_only_for_sticky_cookie(strategy: str, affinity: str) -> None:
    text = config(strategy, affinity=affinity)
    cookie = strategy == "sticky" and affinity == "cookie"
    assert ("cookie SERVERID insert indirect nocache" in text) is cookie
    assert len(re.findall(r" cookie s\d+$", text, re.MULTILINE)) == (len(SERVERS) if cookie else 0)


def test_timeouts_and_header() -> None:
    text = haproxy_config(
        scenario(name="timeouts", cluster={"request_timeout_ms": 2500}),
        SERVERS,
        9100,
        strategy="sticky",
        pidfile=Path("/tmp/authsim.pid"),
    )
    assert "# scenario: timeouts" in text
    assert "# strategy: sticky, sticky affinity cookie" in text
    assert "    timeout connect 5s\n" in text
    assert "    timeout client 2500ms\n" in text
    assert "    timeout server 2500ms\n" in text
    assert "    pidfile /tmp/authsim.pid\n" in text
    assert "daemon" not in text


def test_find_binary_names_the_install_command() -> None:
    with pytest.raises(TestbedError) as caught:
        find_binary("authsim-no-such-binary", "authsim-pkg", brew="authsim-formula")
    message = str(caught.value)
    assert message.startswith("authsim-no-such-binary not found: ")
    assert "'sudo apt-get install authsim-pkg' (Debian/Ubuntu)" in message
    assert "'brew install authsim-formula' (macOS)" in message
    assert "\n" not in message


@pytest.fixture(name="haproxy", scope="module")
def haproxy_fixture() -> str:
    """The haproxy binary: a missing one fails (CI installs it), it does not skip."""
    return find_binary("haproxy", "haproxy")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "policy", "affinity"),
    [
        *itertools.product(["local", "shared_store", "jwt"], POLICIES, ["cookie"]),
        *itertools.product(["sticky"], POLICIES, ["cookie"]),
        *itertools.product(["sticky"], ["round_robin"], ["ip_hash", "consistent_hash"]),
    ],
)
def test_haproxy_accepts_the_config(
    haproxy: str, tmp_path: Path, strategy: str, policy: str, affinity: str
) -> None:
    path = tmp_path / "haproxy.cfg"
    path.write_text(
        haproxy_config(
            scenario(policy, affinity),
            SERVERS,
            9100,
            strategy=strategy,
            pidfile=tmp_path / "haproxy.pid",
            stats_port=9199,
        ),
        encoding="utf-8",
    )
    check_config(haproxy, path)


@pytest.mark.slow
def test_check_config_quotes_haproxys_first_error(haproxy: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.cfg"
    path.write_text(config("local").replace("balance roundrobin", "balance bogus"), "utf-8")
    with pytest.raises(TestbedError, match=r"HAProxy rejects .*bad\.cfg: \[ALERT\].*balance"):
        check_config(haproxy, path)


@pytest.mark.slow
def test_haproxy_version(haproxy: str) -> None:
    assert re.match(r"\d+\.\d+", haproxy_version(haproxy))


def test_routing_difference_names_haproxys_own_ring_only() -> None:
    ring = Scenario.model_validate({"sticky": {"affinity": "consistent_hash"}})
    assert "own points" in routing_difference("sticky", ring)
    assert routing_difference("jwt", ring) == ""  # round robin routes alike
    by_address = Scenario.model_validate({"sticky": {"affinity": "ip_hash"}})
    assert routing_difference("sticky", by_address) == ""
