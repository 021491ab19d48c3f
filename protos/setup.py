"""Builds the Python modules from the .proto files at package build time: the generated code
is never committed, and always matches the protobuf runtime it is built against."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent


class BuildWithProtos(build_py):
    def run(self) -> None:
        from grpc_tools import protoc  # a build requirement (pyproject.toml)

        out = Path(self.build_lib)
        (out / "vigie" / "v1").mkdir(parents=True, exist_ok=True)
        protos = sorted(str(p.relative_to(HERE)) for p in (HERE / "vigie" / "v1").glob("*.proto"))
        include = str(Path(protoc.__file__).parent / "_proto")
        args = ["protoc", f"-I{HERE}", f"-I{include}", f"--python_out={out}", f"--pyi_out={out}"]
        args.append(f"--grpc_python_out={out}")
        if protoc.main([*args, *protos]) != 0:
            raise RuntimeError(f"protoc failed on {protos}")
        for package in (out / "vigie", out / "vigie" / "v1"):
            (package / "__init__.py").touch()
        super().run()


setup(cmdclass={"build_py": BuildWithProtos})
