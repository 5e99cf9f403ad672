"""The HAProxy 2.6 configuration of a testbed run: one frontend, one backend of N servers.

Everything listens on and points to 127.0.0.1. The syntax follows the HAProxy 2.6
Configuration Manual (Debian ships it as ``/usr/share/doc/haproxy/configuration.txt.gz``;
online at https://docs.haproxy.org/2.6/configuration.html), section by section:

- ``balance`` (4.2): ``roundrobin``, ``leastconn``, ``source``, ``random`` and
  ``random(<draws>)``, "the least loaded of these servers" after ``<draws>`` random
  picks: ``random(2)`` is the power of two choices.
- ``hash-type`` (4.2): ``map-based`` is the default (a static array of the live servers,
  so most clients move when the count changes); ``consistent`` is a tree with many points
  per server, so only the moved server's clients move.
- ``cookie <name> insert indirect nocache`` (4.2) and the server option ``cookie
  <value>`` (5.2): HAProxy adds ``Set-Cookie: SERVERID=sN`` to the first response, routes
  later requests carrying it to ``sN``, strips it before the server (``indirect``) and
  marks the response uncacheable (``nocache``).
- ``option httpchk <method> <uri>`` (4.2) and the server options ``check``, ``inter``,
  ``fall``, ``rise`` (5.2): ``inter`` is in milliseconds unless a unit is given.
- ``timeout connect|client|server`` (4.2), ``retries`` (4.2), ``option http-server-close``
  (4.2), ``maxconn``, ``pidfile`` and ``hard-stop-after`` (3.1, 3.2).

:func:`check_config` runs ``haproxy -c -f`` (management guide, section 3), which every
generated configuration must pass.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from simulator.errors import one_line
from simulator.scenario.models import LoadBalancer, Scenario, Sticky, StrategyName
from simulator.testbed.config import HaproxyFiles
from simulator.testbed.processes import TestbedError, find_binary

__all__ = [
    "COOKIE_NAME",
    "TestbedError",
    "balance_directives",
    "check_config",
    "find_binary",
    "haproxy_config",
    "haproxy_version",
    "server_name",
]

POLICY_BALANCE = {
    "round_robin": "balance roundrobin",
    "random": "balance random",
    "least_connections": "balance leastconn",
    "power_of_two": "balance random(2)",
}
"""``load_balancer.policy`` → HAProxy's ``balance`` line."""

COOKIE_NAME = "SERVERID"
"""The persistence cookie HAProxy inserts for ``sticky.affinity: cookie``."""

GLOBAL_MAXCONN = 4096
"""Concurrent connections HAProxy accepts; it needs about twice as many file descriptors,
which an unprivileged user's usual limit allows."""

CHECK_TIMEOUT = 5.0
"""``haproxy -c`` wall-clock limit, seconds."""


def server_name(index: int) -> str:
    """HAProxy's name (and cookie value) of server ``index``: ``s0``, ``s1``..."""
    return f"s{index}"


def balance_directives(strategy: str, load_balancer: LoadBalancer, sticky: Sticky) -> list[str]:
    """The backend's load-balancing lines for one strategy.

    ``local``, ``shared_store`` and ``jwt`` spread requests by ``load_balancer.policy``;
    ``sticky`` pins users by ``sticky.affinity``: ``cookie`` balances first requests by the
    policy and adds ``cookie SERVERID insert indirect nocache``; ``ip_hash`` is ``balance
    source`` with the default map-based hash; ``consistent_hash`` adds ``hash-type
    consistent``. (HAProxy hashes the address its own way: ``sticky.hash`` is not
    reproduced.)

    Raises:
        TestbedError: an unknown strategy.
    """
    try:
        name = StrategyName(strategy)
    except ValueError:
        known = ", ".join(member.value for member in StrategyName)
        raise TestbedError(f"unknown strategy '{strategy}' (one of {known})") from None
    policy = POLICY_BALANCE[load_balancer.policy]
    if name is not StrategyName.STICKY:
        return [policy]
    if sticky.affinity == "cookie":
        return [policy, f"cookie {COOKIE_NAME} insert indirect nocache"]
    if sticky.affinity == "ip_hash":
        return ["balance source"]
    return ["balance source", "hash-type consistent"]


def routing_difference(strategy: str, scenario: Scenario) -> str:
    """How HAProxy's routing of ``strategy`` differs from the model's, in words (empty
    when it routes alike).

    Round robin, random, least connections, cookie affinity and ``balance source``
    (map-based: the address modulo the servers, modelled by ``sticky.hash: modulo`` over
    consecutive addresses, see :func:`simulator.testbed.costs.model_scenario`) route as
    the model does. HAProxy's consistent hashing builds its own ring (its own hash of
    the address and its own points per server, configuration manual 4.2, ``hash-type``),
    so which users a scale-out moves, and how many, differ from the model's ring of
    ``sticky.virtual_nodes`` points.
    """
    directives = balance_directives(strategy, scenario.load_balancer, scenario.sticky)
    if "hash-type consistent" in directives:
        return (
            "HAProxy's consistent-hash ring has its own points, not the model's "
            f"{scenario.sticky.virtual_nodes} per server: which users it moves differs"
        )
    return ""


def _milliseconds(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def _loopback(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4 or not address.is_loopback:
        raise TestbedError(f"server address {host!r} is not an IPv4 loopback address")
    return host


def haproxy_config(
    scenario: Scenario,
    servers: Sequence[tuple[str, int]],
    frontend_port: int,
    *,
    strategy: str,
    pidfile: Path | None = None,
    stats_port: int | None = None,
    files: HaproxyFiles | None = None,
) -> str:
    """The text of an HAProxy 2.6 configuration running ``strategy`` of ``scenario``.

    Args:
        servers: ``(host, port)`` of every server, in index order (``s0`` first); hosts
            must be IPv4 loopback addresses.
        frontend_port: where HAProxy listens, on 127.0.0.1.
        strategy: the strategy run, which sets the ``balance`` lines
            (:func:`balance_directives`).
        pidfile: where HAProxy writes its pid, if given.
        stats_port: a ``listen stats`` page on 127.0.0.1 (``/stats``, ``/stats;csv``),
            if given.
        files: with them, the runtime API on ``files.admin_socket`` (mode 600, level
            admin, ``expose-fd listeners``) and the servers' state read at start-up from
            ``files.state_file`` (``server-state-file`` and ``load-server-state-from-file
            global``, configuration manual 3.1 and 4.2), so a reload
            (:func:`~simulator.testbed.processes.reload_haproxy`) keeps what the old
            process knew: a crashed server stays down instead of being tried again.

    The choices, beyond the mapping of :func:`balance_directives`:

    - ``option http-server-close``: clients may keep their connection to HAProxy alive,
      but each request opens its own connection to a server, as each job in the model
      is independent. A killed server then refuses the next request at once instead of
      hiding behind a pooled idle connection, and the servers need not keep connections
      alive.
    - ``retries 0``: a request sent to a dead server (between a crash and the next health
      check) fails at once with a 503, as the model's ``server_down``; HAProxy's default
      (3 retries, a second apart, to the same server) would turn it into a 3 s wait.
    - ``timeout client``/``timeout server`` are ``cluster.request_timeout_ms``: a request
      answered later than that is a failure in the model too.
    - ``hard-stop-after``: after a reload (:func:`~simulator.testbed.processes.reload_haproxy`)
      the old process exits at most that long after the request timeout.
    """
    if not servers:
        raise TestbedError("HAProxy needs at least one server")
    balance = balance_directives(strategy, scenario.load_balancer, scenario.sticky)
    uses_cookie = any(line.startswith("cookie ") for line in balance)
    timeout = _milliseconds(scenario.cluster.request_timeout_ms / 1000)
    inter = _milliseconds(scenario.load_balancer.health_check_interval_s)
    affinity = (
        f", sticky affinity {scenario.sticky.affinity}" if strategy == StrategyName.STICKY else ""
    )
    lines = [
        "# HAProxy 2.6 configuration written by authsim testbed",
        f"# scenario: {one_line(scenario.name)}",
        f"# strategy: {one_line(strategy)}{affinity}, "
        f"load_balancer.policy {scenario.load_balancer.policy}",
        f"# servers: {len(servers)}, health check every "
        f"{scenario.load_balancer.health_check_interval_s:g} s, "
        f"request timeout {scenario.cluster.request_timeout_ms:g} ms",
        "",
        "global",
        f"    maxconn {GLOBAL_MAXCONN}",
        f"    hard-stop-after {_milliseconds(scenario.cluster.request_timeout_ms / 1000 + 5)}",
    ]
    if pidfile is not None:
        lines.append(f"    pidfile {pidfile}")
    if files is not None:
        lines += [
            f"    stats socket {files.admin_socket} mode 600 level admin expose-fd listeners",
            f"    server-state-file {files.state_file}",
        ]
    lines += [
        "",
        "defaults",
        "    mode http",
        "    option http-server-close",
        "    retries 0",
        "    timeout connect 5s",
        f"    timeout client {timeout}",
        f"    timeout server {timeout}",
        *(["    load-server-state-from-file global"] if files is not None else []),
        "",
        "frontend authsim",
        f"    bind 127.0.0.1:{frontend_port}",
        "    default_backend servers",
        "",
        "backend servers",
        *(f"    {line}" for line in balance),
        "    option httpchk GET /health",
    ]
    for index, (host, port) in enumerate(servers):
        name = server_name(index)
        cookie = f" cookie {name}" if uses_cookie else ""
        lines.append(
            f"    server {name} {_loopback(host)}:{port} check inter {inter} fall 1 rise 1{cookie}"
        )
    if stats_port is not None:
        lines += [
            "",
            "listen stats",
            f"    bind 127.0.0.1:{stats_port}",
            "    stats enable",
            "    stats uri /stats",
        ]
    return "\n".join(lines) + "\n"


_VERSION = re.compile(r"HA-?Proxy version (\S+)")


def haproxy_version(binary: str) -> str:
    """The version ``binary -v`` reports (``2.6.12-1+deb12u4``).

    Raises:
        TestbedError: it does not run or does not say.
    """
    try:
        result = subprocess.run(
            [binary, "-v"], capture_output=True, text=True, timeout=CHECK_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TestbedError(f"{binary} -v failed: {exc}") from exc
    match = _VERSION.search(result.stdout + result.stderr)
    if match is None:
        raise TestbedError(f"{binary} -v did not report a HAProxy version")
    return match.group(1)


def check_config(binary: str, path: Path) -> None:
    """Run ``haproxy -c -f path``, HAProxy's own check of a configuration.

    Raises:
        TestbedError: HAProxy rejects it; the message quotes its first error line.
    """
    try:
        result = subprocess.run(
            [binary, "-c", "-f", str(path)],
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TestbedError(f"{binary} -c failed: {exc}") from exc
    if result.returncode == 0:
        return
    output = [line.strip() for line in (result.stderr + result.stdout).splitlines()]
    alerts = [line for line in output if "[ALERT]" in line] or [line for line in output if line]
    first = alerts[0] if alerts else f"exit status {result.returncode}"
    raise TestbedError(f"HAProxy rejects {path}: {one_line(first)}")
