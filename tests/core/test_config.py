"""Run-config loading: strict types, unknown keys, ranges, component references, path-bearing errors."""

from __future__ import annotations

import textwrap

import attrs
import pytest

from spinlock.core import hookimpl
from spinlock.core.config import (
    ConfigError,
    RunConfig,
    dump_run_config,
    load_run_config,
    loads_config,
    make_converter,
)
from spinlock.core.sampling.configs import SobolConfig


@attrs.frozen
class ToyOperatorConfig:
    modes: int = attrs.field(default=8, validator=attrs.validators.ge(1))
    width: float = 1.0


@attrs.frozen
class ToyICConfig:
    length_scale: float = 0.1


class ToyPlugin:
    @hookimpl
    def spinlock_register_initial_conditions(self, registry):  # type: ignore[no-untyped-def]
        registry.add("toy_ic", config_cls=ToyICConfig, factory="builtins:dict", summary="toy IC")

    @hookimpl
    def spinlock_register_operator_blocks(self, registry):  # type: ignore[no-untyped-def]
        registry.add("toy_op", config_cls=ToyOperatorConfig, factory="builtins:dict", summary="toy")


@pytest.fixture
def manager(register_plugin):
    return register_plugin(ToyPlugin(), name="toy")


def load(text: str, manager) -> RunConfig:  # type: ignore[no-untyped-def]
    return loads_config(textwrap.dedent(text), RunConfig, make_converter(manager.components), "test.yaml")


def problems(text: str, manager) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        load(text, manager)
    return [str(p) for p in info.value.problems]


def test_empty_mapping_gives_defaults(manager):
    config = load("{}", manager)
    assert config == RunConfig()
    assert config.sampling.kind == "sobol" and config.sampling.params == SobolConfig()


def test_full_config_structures_components_and_parameters(manager):
    config = load(
        """
        seed: 7
        n_operators: 128
        grid: {height: 32, width: 48, channels: 1}
        sampling: {kind: sobol, params: {scramble: false}}
        parameter_space:
          num_layers: {type: integer, low: 2, high: 5}
          noise_scale: {type: continuous, low: 1.0e-5, high: 1.0, log: true}
          policy: {type: choice, choices: [residual, convex], weights: [3, 1]}
          use_norm: {type: boolean}
        operator: {kind: toy_op, params: {modes: 4}}
        rollout: {steps: 10, realizations: 2, noise: {type: laplace, schedule: periodic, period: 4}}
        storage: {store_trajectories: true, trajectory_stride: 2}
        """,
        manager,
    )
    assert config.seed == 7 and config.grid.width == 48
    assert config.sampling.params == SobolConfig(scramble=False)
    assert list(config.parameter_space) == ["num_layers", "noise_scale", "policy", "use_norm"]
    assert type(config.parameter_space["noise_scale"]).type_name == "continuous"
    assert config.operator is not None and config.operator.params == ToyOperatorConfig(modes=4)
    assert config.rollout.noise.type == "laplace"


def test_round_trip_through_yaml_is_identity(manager):
    config = load(
        """
        parameter_space:
          k: {type: choice, choices: [3, 5, 7]}
          lr: {type: continuous, low: 0.1, high: 1.0}
        operator: toy_op
        initial_conditions:
          short: {kind: toy_ic, params: {length_scale: 0.05}, weight: 2}
          plain: toy_ic
        rollout: {divergence_threshold: 1e4}
        """,
        manager,
    )
    assert config.initial_conditions["short"].weight == 2.0
    assert config.initial_conditions["plain"].params == ToyICConfig()
    assert config.rollout.divergence_threshold == 1e4  # YAML 1.1 would read `1e4` as a string
    again = load(dump_run_config(config, manager), manager)
    assert again == config


def test_out_of_range_value_names_path_and_reason(manager):
    assert problems("operator: {kind: toy_op, params: {modes: 0}}", manager) == [
        "'modes' must be >= 1: 0 @ $.operator.params.modes"
    ]
    assert problems("rollout: {alpha: 1.5}", manager) == ["'alpha' must be in [0, 1]: 1.5 @ $.rollout.alpha"]


def test_unknown_key_is_rejected_with_suggestion(manager):
    [message] = problems("rollout: {stpes: 3}", manager)
    assert message.startswith("unknown key 'stpes' (did you mean 'steps'?)")
    assert message.endswith("@ $.rollout")
    [message] = problems("operator: {kind: toy_op, params: {mdoes: 3}}", manager)
    assert "did you mean 'modes'" in message and message.endswith("@ $.operator.params")
    [message] = problems("operator: {kind: toy_op, parms: {}}", manager)
    assert "unknown key 'parms'" in message and message.endswith("@ $.operator")


def test_unknown_component_kind_suggests_registered_names(manager):
    [message] = problems("operator: {kind: toy_opp}", manager)
    assert "unknown operator_block 'toy_opp' (did you mean 'toy_op'?)" in message
    assert message.endswith("@ $.operator.kind")
    [message] = problems("sampling: {kind: sobel}", manager)
    assert "did you mean 'sobol'" in message


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("seed: '5'", "$.seed"),
        ("seed: 2.7", "$.seed"),
        ("storage: {store_trajectories: 'no'}", "$.storage.store_trajectories"),
        ("grid: {height: [1]}", "$.grid.height"),
        ("rollout: {dt: true}", "$.rollout.dt"),
        ("grid: 5", "$.grid"),
    ],
)
def test_wrong_types_are_rejected_not_coerced(text, path, manager):
    [message] = problems(text, manager)
    assert message.endswith(f"@ {path}")


def test_enumerated_strings_suggest_the_nearest(manager):
    [message] = problems("rollout: {policy: resdual}", manager)
    assert "did you mean 'residual'" in message and message.endswith("@ $.rollout.policy")


def test_parameter_errors_carry_their_path(manager):
    [message] = problems("parameter_space: {k: {type: integr, low: 1, high: 2}}", manager)
    assert "did you mean 'integer'" in message and message.endswith("@ $.parameter_space.k.type")
    [message] = problems("parameter_space: {k: {low: 1, high: 2}}", manager)
    assert "required key is missing" in message and message.endswith("@ $.parameter_space.k.type")
    messages = problems("parameter_space: {k: {type: integer, low: 5, high: 2}}", manager)
    assert messages and all("$.parameter_space.k" in m for m in messages)


def test_problems_in_separate_sections_are_all_reported(manager):
    messages = problems("grid: {height: x}\nrollout: {steps: y}\nstorage: {compression: zip}", manager)
    assert [m.rsplit(" @ ", 1)[1] for m in messages] == [
        "$.grid.height",
        "$.rollout.steps",
        "$.storage.compression",
    ]


def test_yaml_syntax_error_names_line(manager):
    [message] = problems("seed: [1, 2\nrollout: {}", manager)
    assert "invalid YAML at line" in message


def test_file_errors(tmp_path, manager):
    cases = {
        "empty.yaml": (b"", "empty"),
        "binary.yaml": (bytes(range(256)), "binary"),
        "list.yaml": (b"- 1\n- 2\n", "mapping at the top level"),
        "latin1.yaml": ("seed: 1 # caf\u00e9".encode("latin-1"), "UTF-8"),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ConfigError, match=expected) as info:
            load_run_config(path, manager)
        assert name in str(info.value)
    with pytest.raises(ConfigError, match="file not found"):
        load_run_config(tmp_path / "missing.yaml", manager)


def test_ic_mixture_weights(manager):
    [message] = problems("initial_conditions: {a: {kind: nope, weight: -1}}", manager)
    assert message.endswith("@ $.initial_conditions.a.kind")
