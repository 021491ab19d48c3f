"""`vigie audit verify` and `vigie audit export` open the archive the same way: the keys of the
arguments, then the archive; either missing is said on stderr and the command exits 2 before
touching anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigie_cli.main import main as vigie
from vigie_core.journal import entry
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.journal_keys import JournalSettings, load_keyring

KEYS = "k1: a-secret-of-at-least-thirty-two-bytes!\n"
T0 = 1_700_000_000.0


def _export(db: Path, out: Path, *keys: str) -> list[str]:
    return ["audit", "export", "--database", str(db), "--out", str(out), "--purpose", "p", *keys]


def _verify(db: Path, *keys: str) -> list[str]:
    return ["audit", "verify", "--database", str(db), *keys]


def test_no_archive_is_said_and_exits_2_for_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, out = tmp_path / "none.sqlite", tmp_path / "out.jsonl"
    for argv in (_verify(missing), _export(missing, out)):
        assert vigie(argv) == 2
        assert f"no archive at {missing}" in capsys.readouterr().err
    assert not missing.exists() and not out.exists()


def test_unreadable_keys_are_said_and_exit_2_before_the_archive_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, out = tmp_path / "never.sqlite", tmp_path / "out.jsonl"
    keys = ["--key-file", str(tmp_path / "no.keys")]
    for argv in (_verify(db, *keys), _export(db, out, *keys)):
        assert vigie(argv) == 2
        assert "cannot read journal keys" in capsys.readouterr().err
    assert not db.exists() and not out.exists()


def test_both_use_the_keys_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path / "journal.keys"
    key_file.write_text(KEYS)
    keys = ["--key-file", str(key_file)]
    db, out = tmp_path / "keyed.sqlite", tmp_path / "out.jsonl"
    with SqliteArchive(db, load_keyring(JournalSettings(key_file=key_file))) as archive:
        archive.append_audit([entry("test", "s", T0, actor="a", role="auditor")])
    assert vigie(_export(db, out, *keys)) == 0
    assert [json.loads(line)["key_id"] for line in out.read_text().splitlines()] == ["k1"]
    assert vigie(_verify(db, *keys)) == 0  # the export's own record is under the same key
    assert "intact: 2 record(s)" in capsys.readouterr().out


def test_verify_and_export_print_one_json_document_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "journal.keys"
    key_file.write_text(KEYS)
    keys = ["--key-file", str(key_file)]
    db, out = tmp_path / "keyed.sqlite", tmp_path / "out.jsonl"
    with SqliteArchive(db, load_keyring(JournalSettings(key_file=key_file))) as archive:
        archive.append_audit([entry("test", "s", T0, actor="a", role="auditor")])
    capsys.readouterr()
    assert vigie([*_export(db, out, *keys), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported == {"ok": True, "out": str(out), "records": 1, "journaled": True}
    assert vigie([*_verify(db, *keys), "--json"]) == 0
    verified = json.loads(capsys.readouterr().out)
    assert verified["ok"] is True and verified["checked"] == 2 and verified["problems"] == []
    assert verified["keys"] == ["k1"] and verified["development_key"] is False
    with SqliteArchive(db, load_keyring(JournalSettings(key_file=key_file))) as archive:
        archive._conn.execute("UPDATE audit_journal SET reason = 'edited' WHERE seq = 1")
        archive._conn.commit()
    assert vigie([*_verify(db, *keys), "--json"]) == 1
    tampered = json.loads(capsys.readouterr().out)
    assert tampered["ok"] is False and tampered["problems"]
    assert vigie([*_verify(tmp_path / "none.sqlite", "--json")]) == 2
    assert json.loads(capsys.readouterr().out)["ok"] is False
