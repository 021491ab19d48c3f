"""Tokens for a local run: one person per role, so the console can be tried at once.

New random tokens every run, printed once and written to the tokens file as digests only (as in
production): nothing reusable is left in the work folder. Never used by a deployment, which
issues tokens with ``vigie desk-token``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from vigie_runtime.auth import Role, digest, new_token

PEOPLE = {Role.OPERATOR: "dev-operator", Role.SUPERVISOR: "dev-supervisor",
          Role.AUDITOR: "dev-auditor"}  # fmt: skip


@dataclass(frozen=True)
class DevelopmentTokens:
    path: Path
    tokens: dict[Role, str]


def development_tokens(work_dir: Path) -> DevelopmentTokens:
    tokens = {role: new_token(person, role)[0] for role, person in PEOPLE.items()}
    entries = [
        {"sha256": digest(token), "operator": PEOPLE[role], "role": str(role)}
        for role, token in tokens.items()
    ]
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / "desk-tokens.yaml"
    path.write_text(yaml.safe_dump({"tokens": entries}))
    path.chmod(0o600)
    return DevelopmentTokens(path, tokens)


def console_note(port: int, tokens: DevelopmentTokens) -> str:
    lines = [f"operator console: http://127.0.0.1:{port}  (development tokens, this run only)"]
    lines += [f"  {role!s:<10} {PEOPLE[role]:<15} {token}" for role, token in tokens.tokens.items()]
    return "\n".join(lines)
