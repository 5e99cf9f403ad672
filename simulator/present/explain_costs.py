"""The explanation's "Where the figures come from": the real-world source of every cost
and default a run used (or that the scenario set it, or a calibration measured it)."""

from __future__ import annotations

from simulator.costs.contention import contention_note
from simulator.costs.sources import describe
from simulator.present.explain_base import Paragraph
from simulator.present.format import ms
from simulator.results.records import RunResult
from simulator.scenario.calibration import load_profile


def explain_costs(result: RunResult) -> Paragraph | None:
    """Where each real-world figure the run used comes from (``None``: a result with no
    strategy).

    Only the figures that mattered are listed: the store's when a strategy used it, the
    failover's and the replicas' lag when a store node crashed or reads went to replicas,
    the token lifetime when ``jwt`` ran, the re-login delay when someone was logged out.
    """
    if not result.results:
        return None
    scenario = result.scenario
    profile = load_profile(scenario.calibration) if scenario.calibration else None
    store = scenario.shared_store
    items: list[str] = []
    if any(item.logins for item in result.results):
        if (
            profile is not None
            and profile.login is not None
            and "login_cpu_ms" not in scenario.cluster.model_fields_set
        ):
            items.append(
                f"a password login: {profile.login.pbkdf2_sha256_ms:g} ms, measured on this "
                "machine by authsim calibrate"
            )
        else:
            items.append(describe(scenario, "cluster.login_cpu_ms"))
    if any(item.store is not None for item in result.results):
        measured = profile.store if profile is not None else None
        if measured is not None and "rtt_ms" not in store.model_fields_set:
            items.append(
                f"the store round trip: {measured.get_ms:g} ms, measured on this machine "
                "by authsim calibrate"
            )
        else:
            items.append(describe(scenario, "shared_store.rtt_ms"))
        items.append(describe(scenario, "shared_store.op_time_ms"))
        kinds = {mark.kind for mark in result.events}
        if "store_node_crash" in kinds and store.replicas:
            items.append(describe(scenario, "shared_store.failover_s"))
        if store.replicas and ("store_node_crash" in kinds or store.read_from == "replicas"):
            items.append(describe(scenario, "shared_store.replication_lag_ms"))
        if len(scenario.regions) > 1:
            items.append(describe(scenario, "shared_store.cross_region_rtt_ms"))
    if "jwt" in result.strategies:
        items.append(describe(scenario, "jwt.ttl_s"))
    if any(item.forced_relogins for item in result.results):
        items.append(describe(scenario, "workload.relogin_delay_s.mean_s"))
    if not items:
        return None
    sentences = [item[0].upper() + item[1:] + "." for item in items]
    note = contention_note(profile) if profile is not None else ""
    if note:
        sentences.append(f"The calibration profile was {note}.")
    return Paragraph("Where the figures come from", tuple(sentences))


def explain_regions(result: RunResult) -> Paragraph | None:
    """What each region's users saw, strategy by strategy (``None``: no regions)."""
    scenario = result.scenario
    sentences: list[str] = []
    for item in result.results:
        regions = item.regions
        if not regions:
            continue
        asks_store = item.store is not None
        home = next((region for region in regions if region.store_local), None)
        parts = [
            f"{region.name}{' (the store)' if region.store_local and asks_store else ''} "
            f"{ms(region.mean_latency_ms)}"
            for region in regions
            if region.mean_latency_ms is not None
        ]
        sentence = f"{item.strategy}: mean latency " + ", ".join(parts)
        if asks_store and home is not None and home.mean_latency_ms is not None:
            gaps = [
                region.mean_latency_ms - home.mean_latency_ms
                for region in regions
                if not region.store_local and region.mean_latency_ms is not None
            ]
            if gaps:
                sentence += f" (+{ms(max(gaps))} away from the store)"
        sentences.append(sentence + ".")
    if not sentences:
        return None
    sentences.append(
        f"A server outside the store's region adds {ms(scenario.shared_store.cross_region_rtt_ms)} "
        "to every store operation: a session looked up in the store pays it on every "
        "request, a token verified where it lands only on a refresh."
    )
    return Paragraph("Regions", tuple(sentences))
