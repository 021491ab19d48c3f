"""Every word the console shows exists in English and in French, with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from vigie_console.i18n import CATALOGUES, EN, FR, translator
from vigie_core.types import EventKind

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


@pytest.mark.parametrize("prefix", ["severity.", "status.", "kind.", "role.", "verdict."])
def test_the_dynamic_families_cover_their_values(prefix: str) -> None:
    assert any(k.startswith(prefix) for k in EN)
    for kind in EventKind:
        assert f"kind.{kind.value}" in FR


def test_a_missing_key_falls_back_to_english_then_to_the_key() -> None:
    t = translator("fr")
    assert t("nav.wall") == "Alertes"
    assert t("camera.ago", seconds="3") == "il y a 3 s"
    assert translator("de")("nav.wall") == "Alerts"
    assert t("no.such.key") == "no.such.key"
    assert all(prefix.endswith(".") for prefix in DYNAMIC)
