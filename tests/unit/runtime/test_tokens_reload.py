"""Tokens are issued and revoked by editing the tokens file, without a restart."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vigie_runtime.auth import Authenticator, Role, TokensFile, Unauthenticated, digest
from vigie_runtime.yamlconf import ConfigError, load_model


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def line(token: str, operator: str, role: Role = Role.OPERATOR) -> str:
    return f'  - {{sha256: "{digest(token)}", operator: {operator}, role: {role}}}\n'


@pytest.fixture()
def tokens(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n" + line("alice-token", "alice"))
    return path


def authenticator(path: Path, clock: Clock) -> Authenticator:
    return Authenticator(load_model(path, TokensFile).tokens, path, 5.0, clock)


def test_an_edited_file_is_taken_after_the_check_interval(tokens: Path) -> None:
    clock = Clock()
    auth = authenticator(tokens, clock)
    assert auth.caller("Bearer alice-token").operator == "alice"
    tokens.write_text("tokens:\n" + line("bob-token", "bob", Role.SUPERVISOR))
    clock.now = 4.0  # looked at most every 5 s
    assert auth.caller("Bearer alice-token").operator == "alice"
    clock.now = 5.5
    assert auth.caller("Bearer bob-token").role is Role.SUPERVISOR
    with pytest.raises(Unauthenticated):
        auth.caller("Bearer alice-token")  # revoked


def test_a_bad_file_keeps_the_previous_tokens_and_logs_its_line(
    tokens: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    auth = authenticator(tokens, clock)
    tokens.write_text("tokens:\n" + line("alice-token", "alice") + "  - {sha256: nothex}\n")
    clock.now = 6.0
    with caplog.at_level(logging.ERROR, logger="vigie_runtime.auth"):
        assert auth.caller("Bearer alice-token").operator == "alice"
    (record,) = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert f"{tokens}:3" in record.error  # type: ignore[attr-defined]
    clock.now = 12.0  # the same bad file is not reported again
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="vigie_runtime.auth"):
        auth.caller("Bearer alice-token")
    assert not caplog.records
    tokens.write_text("tokens:\n" + line("carol-token", "carol"))
    clock.now = 18.0
    assert auth.caller("Bearer carol-token").operator == "carol"


def test_a_removed_file_keeps_the_previous_tokens(tokens: Path) -> None:
    clock = Clock()
    auth = authenticator(tokens, clock)
    tokens.unlink()
    clock.now = 6.0
    assert auth.caller("Bearer alice-token").operator == "alice"


def test_a_bad_file_at_start_is_a_configuration_error(tokens: Path) -> None:
    tokens.write_text("tokens: [{sha256: nothex, operator: x, role: operator}]\n")
    with pytest.raises(ConfigError, match=r"tokens\.yaml:1"):
        Authenticator.from_file(tokens)


def test_from_file_reloads_by_default(tokens: Path) -> None:
    auth = Authenticator.from_file(tokens, reload_check_s=0)
    tokens.write_text("tokens:\n" + line("dave-token", "dave"))
    assert auth.caller("Bearer dave-token").operator == "dave"
