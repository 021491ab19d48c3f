"""Another service reads Vigie's alerts with the ``vigie-protos`` package alone.

The package is built from ``protos/`` and installed into a fresh virtualenv that holds nothing
of this repository (only the package and the protobuf runtime); an alert published on the real
broker is read back, and the fresh environment decodes it choosing the message type from the
record's ``vigie.schema`` header, as docs/consumers.md tells a consumer to.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from vigie.v1 import alerts_pb2, events_pb2
from vigie_runtime import codec
from vigie_runtime.bus import Output
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import ALERTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]

# What a consumer writes: the header names the type, the descriptor pool finds its class.
CONSUMER = """
import base64, json, sys
from google.protobuf import json_format, message_factory, symbol_database
import vigie.v1.alerts_pb2, vigie.v1.events_pb2  # registers the contracts

records = json.load(open(sys.argv[1]))
for record in records:
    schema = record["headers"]["vigie.schema"]
    descriptor = symbol_database.Default().pool.FindMessageTypeByName(schema)
    message = message_factory.GetMessageClass(descriptor).FromString(
        base64.b64decode(record["value"])
    )
    print(json.dumps({"schema": schema, "message": json_format.MessageToDict(message)}))
"""


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, cwd=cwd
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with the vigie-protos wheel and the protobuf runtime, nothing else."""
    work = tmp_path_factory.mktemp("protos")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps",
        ROOT / "protos", "-w", work / "wheels")  # fmt: skip
    [wheel] = (work / "wheels").glob("vigie_protos-*.whl")
    run(sys.executable, "-m", "venv", work / "venv")
    python = work / "venv" / "bin" / "python"
    protobuf = metadata.version("protobuf")
    run(python, "-m", "pip", "install", "-q", str(wheel), f"protobuf=={protobuf}")
    return python


def test_a_fresh_environment_decodes_alerts_by_their_headers_alone(
    fresh_python: Path, bootstrap: str, tmp_path: Path
) -> None:
    # Nothing of this repository is importable there: only the package.
    isolated = subprocess.run(
        [str(fresh_python), "-c", "import vigie_runtime"], capture_output=True, cwd=tmp_path
    )
    assert isolated.returncode != 0

    bus = KafkaBus(KafkaSettings(bootstrap_servers=bootstrap, single_record_batches=True))
    now = time.time()
    alert = alerts_pb2.Alert(
        alert_id="a-consumer-1",
        camera_id="gate",
        kind=events_pb2.EVENT_KIND_ZONE_INTRUSION,
        zone="lawn",
        severity=alerts_pb2.SEVERITY_HIGH,
        status=alerts_pb2.ALERT_STATUS_RAISED,
        first_event_id="e-1",
        first_seen=codec.time_to_proto(now),
        last_seen=codec.time_to_proto(now),
        count=1,
    )
    publisher = bus.publisher("alerting")
    publisher.publish(Output(ALERTS, "gate", alert.SerializeToString()))
    publisher.flush(10)
    records = [
        {
            "headers": {k: v.decode() for k, v in m.headers.items()},
            "value": base64.b64encode(m.value).decode(),
        }
        for m in bus.read_all(ALERTS)
        if m.key == b"gate"
    ]
    assert records and records[-1]["headers"]["content-type"] == "application/x-protobuf"
    (tmp_path / "records.json").write_text(json.dumps(records))
    (tmp_path / "consumer.py").write_text(CONSUMER)

    out = run(fresh_python, tmp_path / "consumer.py", tmp_path / "records.json", cwd=tmp_path)
    decoded = [json.loads(line) for line in out.splitlines()]
    assert decoded[-1]["schema"] == "vigie.v1.Alert"
    assert decoded[-1]["message"]["alertId"] == "a-consumer-1"
    assert decoded[-1]["message"]["severity"] == "SEVERITY_HIGH"
