"""Every word the console shows exists in English and in French, with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import pytest

from vigie.v1 import alerts_pb2, events_pb2
from vigie_console.cameras import STATES
from vigie_console.i18n import CATALOGUES, EN, FR, translator
from vigie_console.present import enum_name
from vigie_console.views_alerts import VERDICTS
from vigie_core.colours import COLOUR_NAMES
from vigie_core.types import EventKind, VerdictAction
from vigie_runtime.auth import Role

PACKAGE = Path(__file__).resolve().parents[3] / "services" / "console" / "vigie_console"
LITERAL = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""")
# Keys built at run time: a prefix in the template plus a value from a known set.
DYNAMIC = ("severity.", "status.", "kind.", "role.", "verdict.", "colour.", "camera.", "wall.done.")


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*PACKAGE.glob("templates/*.html"), *PACKAGE.glob("*.py")]:
        keys |= set(LITERAL.findall(path.read_text()))
    for path in PACKAGE.glob("*.py"):  # keys handed to templates as messages and errors
        keys |= set(re.findall(r'"((?:signin|error|alert|verdict)\.[a-z_]+)"', path.read_text()))
    return {k for k in keys if not k.endswith((".html", "."))}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_the_pages_use_is_in_both_languages() -> None:
    missing = {lang: sorted(used_keys() - set(words)) for lang, words in CATALOGUES.items()}
    assert missing == {"en": [], "fr": []}


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    assert set(EN) == set(FR)
    for key in EN:
        assert placeholders(EN[key]) == placeholders(FR[key]), key


def enum_values(enum: Any, prefix: str) -> set[str]:
    """What ``present.enum_name`` can return for ``enum``: every value, and "unknown"."""
    return {enum_name(enum, number, prefix) for number in enum.values()} | {"unknown"}


# Each family the templates build a key of, with every value the console can hand them.
FAMILIES: dict[str, set[str]] = {
    "severity.": enum_values(alerts_pb2.Severity, "SEVERITY_"),
    "status.": enum_values(alerts_pb2.AlertStatus, "ALERT_STATUS_"),
    "kind.": enum_values(events_pb2.EventKind, "EVENT_KIND_") | {k.value for k in EventKind},
    "role.": {role.value for role in Role},
    "verdict.": {action.value for action in VerdictAction},
    "colour.": set(COLOUR_NAMES),
    "camera.": {*STATES.values(), "unknown"},
    "wall.done.": set(VERDICTS),
}


def test_every_dynamic_family_is_listed_with_its_values() -> None:
    assert set(FAMILIES) == set(DYNAMIC)


@pytest.mark.parametrize("prefix", DYNAMIC)
@pytest.mark.parametrize("catalogue", ["en", "fr"])
def test_every_value_of_a_dynamic_family_has_words(prefix: str, catalogue: str) -> None:
    words = CATALOGUES[catalogue]
    missing = sorted(v for v in FAMILIES[prefix] if f"{prefix}{v}" not in words)
    assert missing == [], f"{catalogue}: no words for {prefix}{missing}"


def test_a_missing_key_falls_back_to_english_then_to_the_key() -> None:
    t = translator("fr")
    assert t("nav.wall") == "Alertes"
    assert t("camera.ago", seconds="3") == "il y a 3 s"
    assert translator("de")("nav.wall") == "Alerts"
    assert t("no.such.key") == "no.such.key"
