"""``authsim testbed``: the same scenario on a real cluster, measured beside the model.

A real HAProxy in front of real Python HTTP servers (separate processes) and a real
redis-server, all on 127.0.0.1, driven by an open-loop load generator with the
scenario's traffic. Modules: :mod:`~simulator.testbed.config` (what a server process is
told), :mod:`~simulator.testbed.server` (the server process),
:mod:`~simulator.testbed.haproxy` (the balancer's configuration),
:mod:`~simulator.testbed.processes` (starting and stopping every process),
:mod:`~simulator.testbed.loadgen` (the load generator) and
:mod:`~simulator.testbed.measure` (the real run's metrics).
"""
