"""Scenario loading, defaults, overrides and one-line error messages (simulator.scenario.models)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from simulator.errors import PROBLEM_SEPARATOR, AuthsimError, ScenarioError
from simulator.scenario.loading import (
    DEFAULT_SCENARIO,
    builtin_scenarios,
    load_scenario,
    resolve_scenario_path,
    validate_scenario,
)
from simulator.scenario.models import Scenario, StrategyName
from simulator.scenario.overrides import parse_set_option

BUILTIN_NAMES = ("baseline", "heavy-users", "nat-hotspot", "store-saturation")


def write_scenario(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def scenario_error(ref: str | Path, overrides: object = ()) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(ref, overrides)  # type: ignore[arg-type]
    return info.value


def assert_one_line(error: ScenarioError, source: str, key_path: str | None) -> str:
    """The error is ``<source>: <key.path>: <problem>`` on one line; returns the problem."""
    text = str(error)
    assert "\n" not in text
    assert error.source == source
    assert error.key_path == key_path
    prefix = f"{source}: {key_path}: " if key_path else f"{source}: "
    assert text.startswith(prefix), text
    assert text == prefix + error.problem
    assert error.problem
    return error.problem


# ------------------------------------------------------------------ built-ins and paths


def test_builtin_scenarios_lists_the_shipped_files_sorted():
    builtins = builtin_scenarios()
    for name in BUILTIN_NAMES:
        assert name in builtins
        assert builtins[name].is_file()
        assert builtins[name].name == f"{name}.yaml"
    assert list(builtins) == sorted(builtins)


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_every_builtin_scenario_loads_by_name_and_validates(name):
    scenario = load_scenario(name)
    assert isinstance(scenario, Scenario)
    assert scenario.name == name
    assert scenario.warmup_s < scenario.duration_s
    assert scenario.description


def test_builtin_name_with_yaml_suffix_resolves_to_the_same_file():
    assert resolve_scenario_path("baseline.yaml") == builtin_scenarios()["baseline"]
    assert load_scenario("baseline.yaml") == load_scenario("baseline")


def test_load_scenario_by_path_object_and_by_path_string(tmp_path):
    path = write_scenario(tmp_path, "name: mine\nseed: 42\ncluster:\n  servers: 3\n")
    by_path = load_scenario(path)
    by_string = load_scenario(str(path))
    assert by_path == by_string
    assert by_path.name == "mine"
    assert by_path.seed == 42
    assert by_path.cluster.servers == 3


def test_builtin_loaded_by_its_file_path_equals_loaded_by_name():
    path = builtin_scenarios()["nat-hotspot"]
    assert load_scenario(path) == load_scenario("nat-hotspot")
    assert load_scenario(str(path)).workload.users_per_ip == 200


def test_no_reference_loads_the_default_builtin():
    assert DEFAULT_SCENARIO == "baseline"
    assert load_scenario() == load_scenario("baseline")
    assert load_scenario(None).name == "baseline"


def test_baseline_values_come_from_the_file():
    scenario = load_scenario("baseline")
    assert scenario.duration_s == 120
    assert scenario.warmup_s == 20
    assert scenario.measured_s == 100
    assert scenario.strategies == [
        StrategyName.LOCAL,
        StrategyName.STICKY,
        StrategyName.SHARED_STORE,
        StrategyName.JWT,
    ]


# ------------------------------------------------------------------------- defaults


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_an_empty_file_is_refused_in_one_line(tmp_path, text):
    path = write_scenario(tmp_path, text)
    problem = assert_one_line(scenario_error(path), str(path), None)
    assert "empty" in problem


def test_an_empty_mapping_gives_the_documented_defaults(tmp_path):
    scenario = load_scenario(write_scenario(tmp_path, "{}\n"))
    assert scenario == Scenario()
    assert scenario.name == "scenario"
    assert scenario.seed == 1
    assert scenario.duration_s == 60.0
    assert scenario.warmup_s == 0.0
    assert scenario.measured_s == 60.0
    assert scenario.strategies == list(StrategyName)
    assert scenario.workload.users == 2000
    assert scenario.workload.arrival_rate_per_s == 100.0
    assert scenario.workload.user_weights == "uniform"
    assert scenario.workload.users_per_ip == 1
    assert scenario.workload.logged_in_at_start is True
    assert scenario.cluster.servers == 5
    assert scenario.cluster.workers_per_server == 4
    assert scenario.cluster.queue_limit == 100
    assert scenario.cluster.service_time_ms.distribution == "exponential"
    assert scenario.cluster.service_time_ms.mean == 10.0
    assert scenario.cluster.login_cpu_ms == 140.0
    assert scenario.load_balancer.policy == "round_robin"
    assert scenario.sticky.affinity == "cookie"
    assert scenario.sticky.virtual_nodes == 100
    assert scenario.shared_store.pool_size == 10
    assert scenario.jwt.algorithm == "HS256"
    assert scenario.jwt.verify_ms is None
    assert scenario.jwt.ttl_s == 900.0
    assert scenario.jwt.refresh is True


def test_partial_section_keeps_defaults_for_missing_keys(tmp_path):
    path = write_scenario(tmp_path, "cluster:\n  servers: 9\n  service_time_ms: {mean: 3}\n")
    scenario = load_scenario(path)
    assert scenario.cluster.servers == 9
    assert scenario.cluster.workers_per_server == 4
    assert scenario.cluster.service_time_ms.mean == 3.0
    assert scenario.cluster.service_time_ms.distribution == "exponential"


def test_scenario_is_frozen():
    scenario = Scenario()
    with pytest.raises(ValidationError, match="frozen"):
        scenario.seed = 2  # type: ignore[misc]
    assert scenario.seed == 1


# ------------------------------------------------------------------------ overrides


def test_with_overrides_returns_a_validated_copy_and_leaves_the_original():
    base = Scenario()
    changed = base.with_overrides(
        {"cluster.servers": 8, "jwt.algorithm": "ES256", "cluster.service_time_ms.mean": 2.5}
    )
    assert changed.cluster.servers == 8
    assert changed.jwt.algorithm == "ES256"
    assert changed.cluster.service_time_ms.mean == 2.5
    assert changed.cluster.workers_per_server == base.cluster.workers_per_server
    assert base.cluster.servers == 5
    assert base.jwt.algorithm == "HS256"


def test_with_overrides_invalid_value_names_the_given_source():
    with pytest.raises(ScenarioError) as info:
        Scenario().with_overrides({"cluster.servers": 0}, source="sweep")
    problem = assert_one_line(info.value, "sweep", "cluster.servers")
    assert ">= 1" in problem


def test_with_overrides_unknown_key_is_an_error_with_suggestion():
    with pytest.raises(ScenarioError) as info:
        Scenario().with_overrides({"workload.arrival_rate": 5})
    assert info.value.key_path == "workload.arrival_rate"
    assert "did you mean 'arrival_rate_per_s'" in str(info.value)


def test_set_strings_are_parsed_as_yaml_scalars():
    scenario = load_scenario(
        "baseline",
        [
            "cluster.servers=7",
            "workload.arrival_rate_per_s=2.5",
            "workload.logged_in_at_start=false",
            "strategies=[jwt, sticky]",
            "jwt.verify_ms=0.25",
            "name=my-run",
        ],
    )
    assert scenario.cluster.servers == 7
    assert scenario.workload.arrival_rate_per_s == 2.5
    assert scenario.workload.logged_in_at_start is False
    assert scenario.strategies == [StrategyName.JWT, StrategyName.STICKY]
    assert scenario.jwt.verify_ms == 0.25
    assert scenario.name == "my-run"
    # keys not overridden keep the file's values
    assert scenario.duration_s == 120


def test_set_null_restores_the_reference_cost(tmp_path):
    path = write_scenario(tmp_path, "jwt:\n  verify_ms: 3\n")
    assert load_scenario(path).jwt.verify_ms == 3.0
    assert load_scenario(path, ["jwt.verify_ms=null"]).jwt.verify_ms is None


def test_mapping_overrides_take_python_values(tmp_path):
    path = write_scenario(tmp_path, "cluster:\n  servers: 3\n  workers_per_server: 2\n")
    scenario = load_scenario(path, {"cluster.servers": 11, "sticky.affinity": "ip_hash"})
    assert scenario.cluster.servers == 11
    assert scenario.cluster.workers_per_server == 2
    assert scenario.sticky.affinity == "ip_hash"


def test_set_into_a_nested_section_merges_with_the_file(tmp_path):
    path = write_scenario(
        tmp_path, "cluster:\n  service_time_ms: {distribution: constant, mean: 4}\n"
    )
    scenario = load_scenario(path, ["cluster.service_time_ms.mean=6"])
    assert scenario.cluster.service_time_ms.distribution == "constant"
    assert scenario.cluster.service_time_ms.mean == 6.0


def test_set_creates_a_section_missing_from_the_file(tmp_path):
    path = write_scenario(tmp_path, "seed: 5\n")
    scenario = load_scenario(path, ["shared_store.pool_size=2"])
    assert scenario.shared_store.pool_size == 2
    assert scenario.seed == 5


def test_later_set_of_the_same_key_wins():
    scenario = load_scenario("baseline", ["cluster.servers=3", "cluster.servers=4"])
    assert scenario.cluster.servers == 4


@pytest.mark.parametrize(
    ("option", "attribute", "expected"),
    [
        ("cluster.servers=10", "cluster.servers", 10),
        ("workload.arrival_rate_per_s=12.5", "workload.arrival_rate_per_s", 12.5),
        ("workload.logged_in_at_start=true", "workload.logged_in_at_start", True),
        ("workload.logged_in_at_start=False", "workload.logged_in_at_start", False),
        ("strategies=[local, jwt]", "strategies", ["local", "jwt"]),
        ("jwt.verify_ms=null", "jwt.verify_ms", None),
        ("name=hello", "name", "hello"),
        ("name=2024", "name", "2024"),
        (" seed = 3 ", "seed", 3),
        ("description=", "description", ""),
        ("description=a=b", "description", "a=b"),
    ],
)
def test_set_values_are_read_as_yaml_except_for_text_keys(option, attribute, expected):
    value = load_scenario("baseline", [option])
    for part in attribute.split("."):
        value = getattr(value, part)
    assert value == expected


def test_parse_set_option_splits_at_the_first_equals_sign():
    assert parse_set_option(" cluster.servers = 10") == ("cluster.servers", " 10")
    assert parse_set_option("description=a=b") == ("description", "a=b")


def test_set_into_a_value_of_the_file_is_an_error(tmp_path):
    path = write_scenario(tmp_path, "cluster: 5\n")
    error = scenario_error(path, ["cluster.servers=3"])
    assert str(error) == "--set: cluster: is a value here, not a section"


# ------------------------------------------------------------------ errors in files


def test_misspelt_top_level_key_suggests_the_right_one(tmp_path):
    path = write_scenario(tmp_path, "worklaod:\n  users: 5\n")
    problem = assert_one_line(scenario_error(path), str(path), "worklaod")
    assert problem == "unknown key (did you mean 'workload'?)"


def test_misspelt_nested_key_suggests_the_right_one(tmp_path):
    path = write_scenario(tmp_path, "workload:\n  arival_rate_per_s: 5\n")
    problem = assert_one_line(scenario_error(path), str(path), "workload.arival_rate_per_s")
    assert "unknown key" in problem
    assert "did you mean 'arrival_rate_per_s'" in problem


def test_misspelt_key_two_levels_deep_suggests_from_that_section(tmp_path):
    path = write_scenario(tmp_path, "cluster:\n  service_time_ms:\n    distribution_: constant\n")
    problem = assert_one_line(
        scenario_error(path), str(path), "cluster.service_time_ms.distribution_"
    )
    assert "did you mean 'distribution'" in problem


def test_unknown_key_with_no_close_match_has_no_suggestion(tmp_path):
    path = write_scenario(tmp_path, "zzzzzz: 1\n")
    problem = assert_one_line(scenario_error(path), str(path), "zzzzzz")
    assert problem == "unknown key"


def test_wrong_type_names_the_key_and_the_value(tmp_path):
    path = write_scenario(tmp_path, "cluster:\n  servers: abc\n")
    problem = assert_one_line(scenario_error(path), str(path), "cluster.servers")
    assert "integer" in problem
    assert "'abc'" in problem


def test_section_given_as_a_scalar_is_an_error(tmp_path):
    path = write_scenario(tmp_path, "cluster: 5\n")
    problem = assert_one_line(scenario_error(path), str(path), "cluster")
    assert "dictionary" in problem or "mapping" in problem


def test_negative_rate_is_an_error(tmp_path):
    path = write_scenario(tmp_path, "workload:\n  arrival_rate_per_s: -3\n")
    problem = assert_one_line(scenario_error(path), str(path), "workload.arrival_rate_per_s")
    assert "must be > 0" in problem
    assert "-3" in problem


def test_zero_servers_is_an_error(tmp_path):
    path = write_scenario(tmp_path, "cluster:\n  servers: 0\n")
    problem = assert_one_line(scenario_error(path), str(path), "cluster.servers")
    assert "must be >= 1" in problem
    assert "got 0" in problem


@pytest.mark.parametrize(("warmup", "duration"), [(10, 10), (30, 10)])
def test_warmup_not_shorter_than_duration_is_an_error(tmp_path, warmup, duration):
    path = write_scenario(tmp_path, f"duration_s: {duration}\nwarmup_s: {warmup}\n")
    problem = assert_one_line(scenario_error(path), str(path), "warmup_s")
    assert "duration_s" in problem
    assert "measured before duration_s" in problem


def test_warmup_just_below_duration_is_accepted(tmp_path):
    path = write_scenario(tmp_path, "duration_s: 10\nwarmup_s: 9.5\n")
    assert load_scenario(path).measured_s == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("text", "key_path", "bad_value", "a_valid_value"),
    [
        ("load_balancer:\n  policy: rr\n", "load_balancer.policy", "'rr'", "'round_robin'"),
        (
            "cluster:\n  service_time_ms: {distribution: pareto}\n",
            "cluster.service_time_ms.distribution",
            "'pareto'",
            "'lognormal'",
        ),
        ("jwt:\n  algorithm: HS999\n", "jwt.algorithm", "'HS999'", "'EdDSA'"),
        ("sticky:\n  affinity: source_ip\n", "sticky.affinity", "'source_ip'", "'ip_hash'"),
        ("workload:\n  user_weights: pareto\n", "workload.user_weights", "'pareto'", "'zipf'"),
        ("strategies: [local, cookies]\n", "strategies.1", "'cookies'", "'shared_store'"),
    ],
)
def test_bad_enum_value_lists_the_valid_ones(tmp_path, text, key_path, bad_value, a_valid_value):
    path = write_scenario(tmp_path, text)
    problem = assert_one_line(scenario_error(path), str(path), key_path)
    assert problem.startswith("must be one of")
    assert a_valid_value in problem
    assert f"(got {bad_value})" in problem


def test_duplicated_strategy_is_an_error(tmp_path):
    path = write_scenario(tmp_path, "strategies: [jwt, local, jwt]\n")
    problem = assert_one_line(scenario_error(path), str(path), "strategies")
    assert "jwt" in problem
    assert "twice" in problem


def test_empty_strategies_list_is_an_error(tmp_path):
    path = write_scenario(tmp_path, "strategies: []\n")
    problem = assert_one_line(scenario_error(path), str(path), "strategies")
    assert "at least 1" in problem


def test_several_problems_are_each_listed_on_the_one_line(tmp_path):
    path = write_scenario(tmp_path, "cluster:\n  servers: 0\n  workers_per_server: 0\n")
    error = scenario_error(path)
    assert error.key_path == "cluster.servers"
    assert str(error).split(PROBLEM_SEPARATOR) == [
        f"{path}: cluster.servers: must be >= 1 (got 0)",
        f"{path}: cluster.workers_per_server: must be >= 1 (got 0)",
    ]
    assert "\n" not in str(error)
    assert "more problem" not in str(error)


def test_each_problem_names_its_own_source(tmp_path):
    path = write_scenario(tmp_path, "cluster:\n  servers: 0\n")
    error = scenario_error(path, ["cluster.workers_per_server=0", "duration_s=-1"])
    lines = str(error).split(PROBLEM_SEPARATOR)
    assert len(lines) == 3
    assert f"{path}: cluster.servers: must be >= 1 (got 0)" in lines
    assert "--set: cluster.workers_per_server: must be >= 1 (got 0)" in lines
    assert "--set: duration_s: must be > 0.0 (got -1)" in lines


def test_a_single_problem_stays_one_line(tmp_path):
    path = write_scenario(tmp_path, "cluster:\n  servers: 0\n")
    assert_one_line(scenario_error(path), str(path), "cluster.servers")


def test_missing_builtin_name_lists_builtins_and_suggests_a_close_one():
    error = scenario_error("baselin")
    problem = assert_one_line(error, "baselin", None)
    assert "no such file or built-in scenario" in problem
    assert "did you mean 'baseline'" in problem
    for name in BUILTIN_NAMES:
        assert name in problem


def test_missing_file_path_names_the_path_and_lists_builtins(tmp_path):
    missing = tmp_path / "nowhere" / "nat-skw.yaml"
    error = scenario_error(missing)
    problem = assert_one_line(error, str(missing), None)
    assert "no such file" in problem
    assert f"built-ins: {', '.join(builtin_scenarios())})" in problem
    for name in BUILTIN_NAMES:
        assert name in problem


def test_a_directory_is_not_a_scenario(tmp_path):
    error = scenario_error(tmp_path)
    assert_one_line(error, str(tmp_path), None)
    assert "not a file" in error.problem


def test_broken_yaml_gives_line_and_column(tmp_path):
    path = write_scenario(tmp_path, "cluster:\n  servers: 5\n   workers: 3\n")
    problem = assert_one_line(scenario_error(path), str(path), None)
    assert problem.startswith("invalid YAML at line 3, column ")
    assert "mapping values are not allowed" in problem


def test_unclosed_yaml_list_gives_its_line(tmp_path):
    path = write_scenario(tmp_path, "cluster:\n  servers: [1, 2\nseed: 3\n")
    problem = assert_one_line(scenario_error(path), str(path), None)
    assert "invalid YAML at line 3, column 5" in problem


def test_yaml_list_at_top_level_is_an_error(tmp_path):
    path = write_scenario(tmp_path, "- seed: 1\n- cluster: {servers: 2}\n")
    problem = assert_one_line(scenario_error(path), str(path), None)
    assert "mapping" in problem


def test_yaml_scalar_at_top_level_is_an_error(tmp_path):
    path = write_scenario(tmp_path, "just a string\n")
    assert "mapping" in scenario_error(path).problem


def test_scenario_error_is_an_authsim_error():
    error = ScenarioError("file.yaml", "a.b", "bad")
    assert isinstance(error, AuthsimError)
    assert str(error) == "file.yaml: a.b: bad"
    assert str(ScenarioError("file.yaml", None, "bad")) == "file.yaml: bad"


def test_validate_scenario_uses_the_given_source():
    with pytest.raises(ScenarioError) as info:
        validate_scenario({"seed": -1}, "notebook")
    problem = assert_one_line(info.value, "notebook", "seed")
    assert ">= 0" in problem


# --------------------------------------------------------------- errors in --set


def test_unknown_set_key_suggests_the_right_one():
    error = scenario_error("baseline", ["cluster.sever=3"])
    assert error.source.startswith("--set")
    assert error.key_path == "cluster.sever"
    assert "\n" not in str(error)
    assert str(error).endswith("cluster.sever: unknown key (did you mean 'servers'?)")


def test_unknown_top_level_set_key_suggests_the_right_one():
    error = scenario_error("baseline", ["worklod.users=3"])
    assert error.key_path == "worklod"
    assert "did you mean 'workload'" in error.problem


def test_unknown_mapping_override_key_is_reported_as_an_override():
    error = scenario_error("baseline", {"jwt.algorthm": "RS256"})
    assert error.source.startswith("override")
    assert error.key_path == "jwt.algorthm"
    assert "did you mean 'algorithm'" in error.problem


@pytest.mark.parametrize("option", ["cluster.servers", "=5", ""])
def test_set_without_key_or_equals_sign_is_an_error(option):
    with pytest.raises(ScenarioError) as info:
        load_scenario("baseline", [option])
    error = info.value
    assert error.source == "--set"
    assert "\n" not in str(error)
    assert "expected dotted.key=value" in error.problem


def test_set_into_a_value_as_if_it_were_a_section_is_an_error():
    error = scenario_error("baseline", ["seed.x=1"])
    assert error.source.startswith("--set")
    assert error.key_path == "seed"
    assert "is a value, not a section" in error.problem


def test_set_below_a_list_value_is_an_error():
    error = scenario_error("baseline", ["strategies.local=1"])
    assert error.key_path == "strategies"
    assert "not a section" in error.problem


def test_invalid_set_value_is_reported_against_the_key(tmp_path):
    path = write_scenario(tmp_path, "seed: 1\n")
    error = scenario_error(path, ["cluster.servers=0"])
    assert error.source.startswith("--set")
    problem = assert_one_line(error, error.source, "cluster.servers")
    assert "must be >= 1" in problem


def test_invalid_set_value_type_is_an_error():
    error = scenario_error("baseline", ["cluster.servers=many"])
    assert error.key_path == "cluster.servers"
    assert "'many'" in error.problem
