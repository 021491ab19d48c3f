"""Hot reload of the alert policy file: a site changes what may be signalled, no restart.

The file is checked every tick (a stat and a hash, on the engine's own thread or loop). A valid
new version is put in force and journaled with the version it replaces; an invalid one is refused
as a whole, with its line, journaled too, and the policy in force stays: a typo must never widen
or silence what the cameras signal. Webhook targets are read at start (their secrets come from
the environment), so changing them needs a restart; the journal entry says so.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from prometheus_client import Counter

from vigie_alerting.engine import SYSTEM, AlertEngine
from vigie_alerting.policy_file import load_policy
from vigie_core.journal import entry
from vigie_runtime import codec
from vigie_runtime.bus import Output
from vigie_runtime.topics import AUDIT
from vigie_runtime.yamlconf import ConfigError

log = logging.getLogger(__name__)

POLICY_RELOADS = Counter(
    "vigie_alert_policy_reloads_total", "Alert policy reloads, by outcome", ["outcome"]
)


class PolicyWatch:
    def __init__(self, path: Path, engine: AlertEngine) -> None:
        self.path = path
        self.engine = engine
        self._digest = engine.policy.sha256

    def _read_digest(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def poll(self, now: float) -> list[Output]:
        """The journal entries of a change seen since the last poll (none when unchanged)."""
        digest = self._read_digest()
        if digest is None or digest == self._digest:
            return []
        self._digest = digest
        try:
            policy = load_policy(self.path)
        except ConfigError as exc:
            POLICY_RELOADS.labels("refused").inc()
            log.error("alert policy changed but is invalid; the policy in force stays: %s", exc)
            return [self._refused(digest, str(exc), now)]
        webhooks_changed = policy.file.webhooks != self.engine.policy.file.webhooks
        record = self.engine.change_policy(policy, now)
        POLICY_RELOADS.labels("applied").inc()
        log.warning(
            "alert policy reloaded",
            extra={"version": policy.file.version, "sha256": digest[:12]},
        )
        if webhooks_changed:
            log.warning("webhook targets changed: they take effect at the next restart")
        return [record]

    def _refused(self, digest: str, error: str, now: float) -> Output:
        record = entry(
            "policy.refused",
            str(self.path),
            now,
            actor=SYSTEM,
            role="system",
            key=(digest,),
            reason=error[:2000],
            details={"sha256": digest, "in_force": self.engine.policy.file.version},
        )
        return Output(AUDIT, "", codec.encode(record))
