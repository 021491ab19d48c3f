"""Service settings: YAML with line numbers in every error, environment and overrides on top.

Every YAML file is written into pytest's ``tmp_path``; expected line numbers are found by a
marker in the text (``line_of``) so the assertion says which line is meant, not a bare number.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from pydantic import Field

from vigie_runtime.settings import ServiceSettings, StrictModel, load_settings
from vigie_runtime.yamlconf import ConfigError


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own VIGIE_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("VIGIE_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "settings.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, marker: str) -> int:
    """The 1-based line of the only line of ``path`` containing ``marker``."""
    found = [
        n
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if marker in line
    ]
    assert len(found) == 1, f"marker {marker!r} must be on exactly one line, found {found}"
    return found[0]


def config_error(path: Path | None, cls: type[ServiceSettings] = ServiceSettings) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(cls, path)
    return str(info.value)


# -- a service's own settings, as services define them --------------------------------------------


class Zone(StrictModel):
    name: str
    polygon: list[tuple[float, float]] = Field(default_factory=list)
    min_dwell_s: float = Field(0.0, ge=0)


class Camera(StrictModel):
    id: str
    fps: float = Field(10.0, gt=0)
    zones: list[Zone] = Field(default_factory=list)


class SiteSettings(ServiceSettings):
    group_id: str = "vigie-site-test"
    threshold: float = Field(0.5, ge=0, le=1)
    model_path: str = "models/default.onnx"
    cameras: list[Camera] = Field(default_factory=list)


class RequiredFieldSettings(ServiceSettings):
    model_path: str


SITE_YAML = """
    log_level: DEBUG
    threshold: 0.7
    kafka:
      bootstrap_servers: broker-1:9092
      session_timeout_ms: 6000
    cameras:
      - id: cam-1
        fps: 12.5
        zones:
          - name: door
            polygon: [[0, 0], [1, 0], [1, 1]]
      - id: cam-2
        zones:
          - name: hall
            min_dwell_s: 3
          - name: stairs
            min_dwel_s: 4   # the typo under test
"""


# -- loading --------------------------------------------------------------------------------------


def test_values_come_from_the_yaml_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        log_level: DEBUG
        log_json: false
        group_id: vigie-test
        max_batch: 16
        kafka:
          bootstrap_servers: broker-1:9092
          session_timeout_ms: 6000
          extra:
            security.protocol: SASL_SSL
        http:
          host: 127.0.0.1
          port: 0
        """,
    )
    settings = load_settings(ServiceSettings, path)
    assert settings.log_level == "DEBUG"
    assert settings.log_json is False
    assert settings.group_id == "vigie-test"
    assert settings.max_batch == 16
    assert settings.kafka.bootstrap_servers == "broker-1:9092"
    assert settings.kafka.session_timeout_ms == 6000
    assert settings.kafka.heartbeat_interval_ms == 3000  # default kept beside the YAML values
    assert settings.kafka.extra == {"security.protocol": "SASL_SSL"}
    assert settings.http.host == "127.0.0.1"
    assert settings.http.port == 0


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file_gives_the_defaults(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_settings(ServiceSettings, path) == load_settings(ServiceSettings, None)
    assert load_settings(ServiceSettings, path).kafka.bootstrap_servers == "127.0.0.1:19092"


def test_subclass_fields_are_loaded_and_validated(tmp_path: Path) -> None:
    path = write(tmp_path, SITE_YAML.replace("min_dwel_s", "min_dwell_s"))
    settings = load_settings(SiteSettings, path)
    assert settings.threshold == 0.7
    assert settings.group_id == "vigie-site-test"
    assert [c.id for c in settings.cameras] == ["cam-1", "cam-2"]
    assert settings.cameras[0].fps == 12.5
    assert settings.cameras[0].zones[0].polygon == [(0, 0), (1, 0), (1, 1)]
    assert [(z.name, z.min_dwell_s) for z in settings.cameras[1].zones] == [
        ("hall", 3),
        ("stairs", 4),
    ]
    assert settings.kafka.bootstrap_servers == "broker-1:9092"


# -- errors name file, line and key ---------------------------------------------------------------


def test_unknown_key_deep_in_the_file_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, SITE_YAML)
    line = line_of(path, "min_dwel_s")
    assert config_error(path, SiteSettings) == (
        f"{path}:{line}: cameras.1.zones.1.min_dwel_s: Extra inputs are not permitted"
    )


@pytest.mark.parametrize(
    ("text", "marker", "dotted"),
    [
        ("log_level: INFO\nbogus: 1\n", "bogus", "bogus"),
        ("kafka:\n  bootstrap: broker:9092\n", "bootstrap", "kafka.bootstrap"),
        ("kafka: {bootstrap: broker:9092}\n", "bootstrap", "kafka.bootstrap"),
        ("log_level: INFO\nhttp:\n  port: 9400\n  hots: 0.0.0.0\n", "hots", "http.hots"),
    ],
    ids=["top-level", "nested-typo", "nested-flow-style", "second-nested-model"],
)
def test_unknown_keys_are_refused_at_every_level(
    tmp_path: Path, text: str, marker: str, dotted: str
) -> None:
    path = write(tmp_path, text)
    assert config_error(path) == (
        f"{path}:{line_of(path, marker)}: {dotted}: Extra inputs are not permitted"
    )


@pytest.mark.parametrize(
    ("text", "marker", "dotted", "message"),
    [
        ("log_level: INFO\nmax_batch: lots\n", "lots", "max_batch", "valid integer"),
        ("max_batch: 0\n", "max_batch", "max_batch", "greater than or equal to 1"),
        ("log_json: maybe\n", "maybe", "log_json", "valid boolean"),
        ("http:\n  host: 127.0.0.1\n  port: 70000\n", "70000", "http.port", "less than or equal"),
        ("kafka: broker:9092\n", "kafka", "kafka", "valid dictionary"),
        (
            "kafka:\n  extra:\n    linger.ms: '5'\n    retries: 3\n",
            "retries",
            "kafka.extra.retries",
            "valid string",
        ),
    ],
    ids=[
        "not-an-int",
        "out-of-range",
        "not-a-bool",
        "nested-range",
        "scalar-for-mapping",
        "dict-value",
    ],
)
def test_wrong_type_points_at_its_line(
    tmp_path: Path, text: str, marker: str, dotted: str, message: str
) -> None:
    path = write(tmp_path, text)
    error = config_error(path)
    assert error.startswith(f"{path}:{line_of(path, marker)}: {dotted}: "), error
    assert message in error
    assert "\n" not in error  # one problem, one line


def test_wrong_type_in_a_subclass_field_points_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, SITE_YAML.replace("min_dwel_s", "min_dwell_s").replace("0.7", "1.5"))
    error = config_error(path, SiteSettings)
    assert error.startswith(f"{path}:{line_of(path, '1.5')}: threshold: "), error
    assert "less than or equal to 1" in error


def test_every_problem_gets_its_own_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        log_level: INFO
        max_batch: lots
        kafka:
          session_timeout_ms: 10
          bootstrap: typo
        """,
    )
    lines = config_error(path).splitlines()
    expected = [
        f"{path}:{line_of(path, 'lots')}: max_batch: Input should be a valid integer",
        f"{path}:{line_of(path, 'session_timeout')}: kafka.session_timeout_ms: Input should be",
        f"{path}:{line_of(path, 'bootstrap')}: kafka.bootstrap: Extra inputs are not permitted",
    ]
    assert len(lines) == len(expected)
    for prefix in expected:
        assert sum(line.startswith(prefix) for line in lines) == 1, (prefix, lines)


def test_missing_required_field_names_the_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "log_level: INFO\n")
    # No line holds a key that is absent: the file and the key are all there is to say.
    assert config_error(path, RequiredFieldSettings) == f"{path}: model_path: Field required"


def test_errors_without_a_file_name_the_variable_and_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIE_MAX_BATCH", "0")
    error = config_error(None)
    assert error.startswith(
        "environment VIGIE_MAX_BATCH: max_batch: Input should be greater than or equal to 1"
    ), error


@pytest.mark.parametrize(
    ("text", "marker", "problem"),
    [
        ("log_level: INFO\nmax_batch: 4\nkafka: broker: 9092\n", "kafka", "mapping values"),
        ("log_level: INFO\nkafka:\n\tbootstrap_servers: x\n", "bootstrap", "'\\t'"),
        ("log_level: INFO\nhttp: {port: 1\nmax_batch: 3\n", "max_batch", "expected ','"),
        ("log_level: INFO\n  max_batch: 3\n", "max_batch", ""),
    ],
    ids=["mapping-in-scalar", "tab-indent", "unclosed-flow-mapping", "bad-indent"],
)
def test_invalid_yaml_points_at_its_line(
    tmp_path: Path, text: str, marker: str, problem: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    error = config_error(path)
    assert error.startswith(f"{path}:{line_of(path, marker)}: invalid YAML: "), error
    assert problem in error


@pytest.mark.parametrize(
    ("text", "found"),
    [("- kafka\n- http\n", "list"), ("42\n", "int"), ("just some words\n", "str")],
)
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str, found: str) -> None:
    path = write(tmp_path, text)
    assert config_error(path) == f"{path}:1: expected a mapping of settings, found {found}"


def test_a_missing_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "settings.yaml"
    error = config_error(path)
    assert error.startswith(f"{path}: cannot read configuration: "), error
    assert "No such file" in error


def test_a_directory_gives_a_clear_error(tmp_path: Path) -> None:
    error = config_error(tmp_path)
    assert error.startswith(f"{tmp_path}: cannot read configuration: "), error


def test_a_file_that_is_not_utf8_gives_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("log_level: INFO\ngroup_id: caméra\n".encode("latin-1"))
    error = config_error(path)
    assert error.startswith(f"{path}: cannot read configuration: "), error


# -- precedence: overrides > environment > YAML > defaults ----------------------------------------

LAYERED_YAML = """
    log_level: DEBUG
    max_batch: 3
    kafka:
      bootstrap_servers: yaml:9092
      session_timeout_ms: 6000
"""


def test_environment_overrides_the_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, LAYERED_YAML)
    monkeypatch.setenv("VIGIE_KAFKA__BOOTSTRAP_SERVERS", "env:9092")
    monkeypatch.setenv("VIGIE_MAX_BATCH", "7")
    settings = load_settings(ServiceSettings, path)
    assert settings.kafka.bootstrap_servers == "env:9092"
    assert settings.max_batch == 7
    # Nested values merge key by key: the YAML's other kafka settings survive.
    assert settings.kafka.session_timeout_ms == 6000
    assert settings.log_level == "DEBUG"


def test_environment_applies_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_KAFKA__BOOTSTRAP_SERVERS", "env:9092")
    monkeypatch.setenv("VIGIE_HTTP__PORT", "0")
    settings = load_settings(ServiceSettings)
    assert settings.kafka.bootstrap_servers == "env:9092"
    assert settings.http.port == 0


def test_explicit_overrides_beat_environment_and_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, LAYERED_YAML)
    monkeypatch.setenv("VIGIE_KAFKA__BOOTSTRAP_SERVERS", "env:9092")
    monkeypatch.setenv("VIGIE_MAX_BATCH", "7")
    settings = load_settings(
        ServiceSettings, path, max_batch=9, kafka={"bootstrap_servers": "cli:9092"}
    )
    assert settings.kafka.bootstrap_servers == "cli:9092"
    assert settings.max_batch == 9
    assert settings.kafka.session_timeout_ms == 6000
    assert settings.log_level == "DEBUG"


def test_environment_overrides_a_subclass_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, SITE_YAML.replace("min_dwel_s", "min_dwell_s"))
    monkeypatch.setenv("VIGIE_THRESHOLD", "0.25")
    settings = load_settings(SiteSettings, path)
    assert settings.threshold == 0.25
    assert len(settings.cameras) == 2


def test_a_typo_in_a_nested_environment_variable_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIE_KAFKA__BOOTSTRAP", "env:9092")
    assert config_error(None) == (
        "environment VIGIE_KAFKA__BOOTSTRAP: kafka.bootstrap: Extra inputs are not permitted"
    )


@pytest.mark.parametrize(
    ("env", "overrides", "text", "marker"),
    [
        ({"VIGIE_MAX_BATCH": "0"}, {}, "log_level: INFO\nmax_batch: 3\n", "max_batch"),
        (
            {"VIGIE_KAFKA__SESSION_TIMEOUT_MS": "5"},
            {},
            "log_level: INFO\nkafka:\n  bootstrap_servers: yaml:9092\n",
            "kafka:",
        ),
        (
            {"VIGIE_KAFKA__BOOTSTRAP": "env:9092"},
            {},
            "log_level: INFO\nkafka:\n  bootstrap_servers: yaml:9092\n",
            "kafka:",
        ),
        ({}, {"max_batch": 0}, "log_level: INFO\nmax_batch: 3\n", "max_batch"),
    ],
    ids=["env-top-level", "env-nested-range", "env-nested-typo", "explicit-override"],
)
def test_errors_in_values_not_from_the_yaml_are_not_blamed_on_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    overrides: dict[str, object],
    text: str,
    marker: str,
) -> None:
    path = write(tmp_path, text)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings(ServiceSettings, path, **overrides)
    error = str(info.value)
    # The YAML line holds a valid value (or only a parent key): the operator must be told
    # where the bad value really came from.
    assert f"{path}:{line_of(path, marker)}:" not in error, error
    for name in env:
        assert name in error, error


def test_check_config_hides_secrets_but_not_where_they_come_from(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json as json_module

    from vigie_capture.__main__ import main as capture_main

    monkeypatch.setenv("VIGIE_KAFKA__EXTRA__sasl.password", "s3cret")
    monkeypatch.setenv("VIGIE_KAFKA__EXTRA__sasl.username", "vigie-capture")
    assert capture_main(["--check-config"]) == 0
    printed = json_module.loads(capsys.readouterr().out)
    assert printed["kafka"]["extra"] == {"sasl.password": "***", "sasl.username": "vigie-capture"}
