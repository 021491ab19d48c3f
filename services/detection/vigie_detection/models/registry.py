"""The model registry: manifests in, verified files and class names out.

The built-in manifest declares the default model; operators add bring-your-own models in their
own manifest file. Resolving a model finds each file, checks its sha256 and reads its class
names, so that every later step can trust the files without looking again. All failures are
``ModelError`` subclasses whose message names the file and the fix.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from vigie_detection.models.errors import ModelCorrupt, ModelError, ModelNotFound
from vigie_detection.models.manifest import FileRole, Manifest, ModelSpec
from vigie_runtime.checksums import cached_sha256
from vigie_runtime.yamlconf import ConfigError, format_validation_error, read_yaml

BUILTIN_MANIFEST = Path(__file__).with_name("manifest.yaml")
DEFAULT_MODEL = "yolov4-tiny-coco"
PACKAGE_PREFIX = "package:"


@dataclass(frozen=True, slots=True)
class Declared:
    """A model entry and the manifest it came from (relative locations start there)."""

    spec: ModelSpec
    manifest: Path


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model whose files exist and match their checksums, with its class names read."""

    spec: ModelSpec
    manifest: Path
    paths: dict[FileRole, Path]
    class_names: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    def path(self, role: FileRole) -> Path:
        try:
            return self.paths[role]
        except KeyError:
            raise ModelNotFound(
                f"model {self.name} declares no {role} file in {self.manifest}"
            ) from None


def load_manifest(path: Path) -> list[Declared]:
    """Read and validate one manifest; errors name the file and line."""
    if not path.is_file():
        raise ModelNotFound(f"model manifest not found: {path}")
    try:
        data, lines = read_yaml(path)
        manifest = Manifest.model_validate(data)
    except ConfigError as exc:
        raise ModelError(f"invalid model manifest: {exc}") from None
    except ValidationError as exc:
        detail = format_validation_error(exc, path, lines)
        raise ModelError(f"invalid model manifest:\n{detail}") from None
    return [Declared(spec, path.resolve()) for spec in manifest.models]


def package_dir(distribution: str) -> Path | None:
    """An installed package's folder, found without importing it (some cannot be imported)."""
    try:
        spec = importlib.util.find_spec(distribution)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def model_dir(declared: Declared) -> Path:
    """The folder a model's files live in, per its ``location``."""
    spec = declared.spec
    location = spec.location
    if location.startswith(PACKAGE_PREFIX):
        package, _, sub = location[len(PACKAGE_PREFIX) :].partition("/")
        root = package_dir(package)
        if root is None:
            hint = f"; install it with: {spec.install_hint}" if spec.install_hint else ""
            raise ModelNotFound(
                f"the {package} package holding the files of model {spec.name} is not "
                f"installed{hint}"
            )
        return root / sub
    folder = Path(location).expanduser()
    return folder if folder.is_absolute() else declared.manifest.parent / folder


def _fix_hint(declared: Declared) -> str:
    spec = declared.spec
    if spec.install_hint:
        return f"restore it with: {spec.install_hint}"
    return (
        f"put the right file there or, if it was replaced on purpose, its new sha256 "
        f"(sha256sum FILE) in {declared.manifest}"
    )


def verify_file(path: Path, expected: str, what: str, fix: str) -> None:
    """Refuse a missing file or one whose bytes are not the pinned ones.

    A truncated or swapped weights file loads without complaint in some runtimes and then
    silently detects nothing, which would look like an empty scene rather than a fault.
    """
    if not path.is_file():
        raise ModelNotFound(f"model file not found: {path} ({what}); {fix}")
    actual = cached_sha256(path)
    if actual != expected:
        raise ModelCorrupt(
            f"model file {path} ({what}) is corrupt or not the expected file "
            f"(sha256 {actual}, expected {expected}); {fix}"
        )


def read_class_names(path: Path) -> tuple[str, ...]:
    """Class names in network output order, one per non-empty line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelCorrupt(f"class names file {path} cannot be read: {exc}") from None
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not names:
        raise ModelCorrupt(f"class names file {path} is empty")
    if len(set(names)) != len(names):
        raise ModelCorrupt(f"class names file {path} repeats a name")
    return names


def resolve(declared: Declared, roles: Sequence[FileRole] | None = None) -> ResolvedModel:
    """Locate and verify a model's files (only ``roles`` if given) and read its class names."""
    spec = declared.spec
    folder = model_dir(declared)
    fix = _fix_hint(declared)
    wanted = set(spec.files) if roles is None else set(roles) | ({"names"} & set(spec.files))
    paths: dict[FileRole, Path] = {}
    for role, entry in spec.files.items():
        path = Path(entry.path).expanduser()
        path = path if path.is_absolute() else folder / path
        paths[role] = path
        if role in wanted:
            verify_file(path, entry.sha256, f"{role} of model {spec.name}", fix)
    classes = spec.classes if spec.classes is not None else read_class_names(paths["names"])
    return ResolvedModel(spec, declared.manifest, paths, tuple(classes))


class Registry:
    """Every model declared in the built-in manifest and the operator's extra manifests."""

    def __init__(self, manifests: Sequence[Path] = (), *, builtin: bool = True) -> None:
        self._models: dict[str, Declared] = {}
        sources = ([BUILTIN_MANIFEST] if builtin else []) + [Path(p) for p in manifests]
        for source in sources:
            for declared in load_manifest(source):
                earlier = self._models.get(declared.spec.name)
                if earlier is not None:
                    raise ModelError(
                        f"model {declared.spec.name} is declared twice, in {earlier.manifest} "
                        f"and {declared.manifest}; rename one"
                    )
                self._models[declared.spec.name] = declared

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._models))

    def declared(self, name: str) -> Declared:
        try:
            return self._models[name]
        except KeyError:
            raise ModelNotFound(
                f"no model named {name!r}; known models: {', '.join(self.names)} "
                f"(declare others in a manifest given as the model.manifest setting)"
            ) from None

    def spec(self, name: str) -> ModelSpec:
        return self.declared(name).spec

    def resolve(self, name: str, roles: Sequence[FileRole] | None = None) -> ResolvedModel:
        return resolve(self.declared(name), roles)
