"""Was the machine busy while ``authsim calibrate`` measured? The contention check.

A calibration on a busy machine is still useful for CPU-bound figures, which are thread
CPU time (:mod:`simulator.costs.measure`), but not for wall-time ones (Redis round
trips), which include every wait for a core. Two signs of contention are recorded in the
profile's ``machine`` notes:

* the 1-minute load average (``os.getloadavg``; the higher of its values at the start
  and at the end of the measurement) above the number of cores: more threads wanted to
  run than there were cores, ours included;
* the thread's CPU time below :data:`MIN_CPU_OVER_WALL` of the wall time over the
  CPU-bound measurements: the measuring thread, which never blocks there, spent that
  share of the time waiting for a core.

The load average lags by about a minute, so the ratio catches a load that has just
started and the load average one that comes and goes between timed batches (and it
still reports, for a minute or two, a load that has just ended). CPU time removes the
waits for a core, not the sharing of caches and memory with the other work, so on a
very busy machine even CPU-time figures can come out somewhat higher.
:func:`contention_note` turns the notes into one line for the CLI and for generated text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from simulator.scenario.calibration import CalibrationProfile

MAX_LOAD_PER_CORE: Final[float] = 1.0
"""A 1-minute load average above this many per core counts as contention."""

MIN_CPU_OVER_WALL: Final[float] = 0.8
"""CPU time below this fraction of wall time, over CPU-bound work, counts as contention.
On a quiet machine it is 0.95 to 1.0 (interrupts, the progress spinner's thread)."""


@dataclass(frozen=True)
class Contention:
    """The contention check of one calibration.

    Attributes:
        load_average: the 1-minute load average (``None`` where the OS has none).
        cores: CPUs in the system (``os.cpu_count``), which the load average is set against.
        usable_cores: CPUs this process may run on (``os.sched_getaffinity``).
        cpu_over_wall: thread CPU time over wall time of the CPU-bound measurements
            (``None`` when none ran).
    """

    load_average: float | None
    cores: int
    usable_cores: int
    cpu_over_wall: float | None

    @property
    def contended(self) -> bool:
        """Whether either sign of contention shows (:func:`is_contended`)."""
        return is_contended(self.load_average, self.cores, self.cpu_over_wall)

    def notes(self) -> dict[str, str]:
        """The profile's ``machine`` entries: ``contended`` (``yes``/``no``),
        ``load_average``, ``cores``, ``usable_cores`` and ``cpu_over_wall``."""
        return {
            "contended": "yes" if self.contended else "no",
            "load_average": "" if self.load_average is None else f"{self.load_average:.2f}",
            "cores": str(self.cores),
            "usable_cores": str(self.usable_cores),
            "cpu_over_wall": "" if self.cpu_over_wall is None else f"{self.cpu_over_wall:.3f}",
        }


def is_contended(load_average: float | None, cores: int, cpu_over_wall: float | None) -> bool:
    """Whether a measurement ran under contention.

    Args:
        load_average: the 1-minute load average, or ``None`` when unknown.
        cores: CPUs the load average is set against (at least 1 is assumed).
        cpu_over_wall: thread CPU time over wall time of CPU-bound work, or ``None``.

    Returns:
        ``True`` when the load average exceeds :data:`MAX_LOAD_PER_CORE` per core or the
        ratio is below :data:`MIN_CPU_OVER_WALL`; an unknown value is no sign.
    """
    if load_average is not None and load_average > MAX_LOAD_PER_CORE * max(cores, 1):
        return True
    return cpu_over_wall is not None and cpu_over_wall < MIN_CPU_OVER_WALL


def load_average() -> float | None:
    """The 1-minute load average, or ``None`` where the OS does not report one."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def cores() -> tuple[int, int]:
    """``(CPUs in the system, CPUs this process may run on)``."""
    total = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = total
    return total, usable


def contention_note(profile: CalibrationProfile) -> str:
    """One line saying that ``profile`` was measured under contention, or ``""``.

    Empty for a profile measured on a quiet machine, and for older profiles, which did
    not record the check. Otherwise, for example: ``measured under contention: load
    average 4.10 on 2 cores, CPU time 45% of wall time; CPU-time figures are still
    comparable, wall-time ones (Redis round trips) are inflated``.
    """
    machine = profile.machine
    if machine.get("contended") != "yes":
        return ""
    signs: list[str] = []
    load = _number(machine.get("load_average", ""))
    if load is not None:
        signs.append(f"load average {load:.2f} on {machine.get('cores', '?')} cores")
    ratio = _number(machine.get("cpu_over_wall", ""))
    if ratio is not None:
        signs.append(f"CPU time {ratio:.0%} of wall time")
    return (
        f"measured under contention: {', '.join(signs) or 'a busy machine'}; CPU-time "
        "figures are still comparable, wall-time ones (Redis round trips) are inflated"
    )


def _number(text: str) -> float | None:
    """``text`` as a number, or ``None`` (empty, or a hand-edited profile's typo)."""
    try:
        return float(text)
    except ValueError:
        return None
