"""The model manifest: what a model is, where its files are and what they must hash to.

A manifest is YAML (the built-in one is ``manifest.yaml`` beside this module; operators add
their own with bring-your-own models). Each entry says everything the detector needs to run the
model correctly without guessing: its head family, the exact bytes of every file, the class
names in output order, and how a frame becomes the input tensor (resize mode, colour order,
scale), because a model fed the wrong way still produces boxes, just wrong ones.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

Family = Literal["darknet-yolov4", "yolox"]
FileRole = Literal["cfg", "weights", "onnx", "names"]
ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Sha256 = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-f]{64}$", strip_whitespace=True, to_lower=True)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Strict):
    """One file of a model, pinned by content so a swapped or truncated file is refused."""

    path: str = Field(min_length=1)  # relative to the model's location, or absolute
    sha256: Sha256


class InputSpec(_Strict):
    """How a BGR frame becomes the network's input tensor.

    ``resize``: ``stretch`` scales each axis independently (Darknet trained yolov4-tiny that
    way), ``letterbox`` keeps the aspect ratio and pads with ``pad_value`` grey, at the centre or,
    as official YOLOX does, at the top-left. Pixel values become ``(v * scale - mean) / std`` in
    ``colour`` order: Darknet wants RGB scaled to 0..1; official YOLOX exports want BGR 0..255.
    """

    size: tuple[int, int]  # width, height the model was exported or trained at
    resize: Literal["stretch", "letterbox"]
    pad_anchor: Literal["centre", "top_left"] = "centre"
    pad_value: int = Field(114, ge=0, le=255)
    colour: Literal["rgb", "bgr"]
    scale: float = Field(gt=0)
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @field_validator("size", mode="before")
    @classmethod
    def _square_shorthand(cls, value: object) -> object:
        return (value, value) if isinstance(value, int) else value

    @field_validator("size")
    @classmethod
    def _multiple_of_32(cls, value: tuple[int, int]) -> tuple[int, int]:
        if any(v <= 0 or v % 32 for v in value):
            raise ValueError(f"input size must be positive multiples of 32, got {value}")
        return value

    @field_validator("std")
    @classmethod
    def _no_zero_std(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(v == 0 for v in value):
            raise ValueError("std must not contain 0")
        return value


class DarknetHeadSpec(_Strict):
    """How an ONNX file of the Darknet/YOLOv4 family lays out its output.

    ``rows``: one output (batch, boxes, 5 + classes) of centre x, centre y, width, height
    relative to the input, objectness, then objectness x class probability (what Vigie's export
    and OpenCV produce). ``raw``: one output per YOLO layer, the convolution maps before decoding,
    decoded here with the anchors (input pixels), the anchor indices of each output (``masks``,
    in output order) and Darknet's ``scale_x_y`` per output.
    """

    outputs: Literal["rows", "raw"] = "rows"
    anchors: tuple[tuple[float, float], ...] = ()
    masks: tuple[tuple[int, ...], ...] = ()
    scale_x_y: tuple[float, ...] = ()

    @model_validator(mode="after")
    def _raw_needs_anchors(self) -> DarknetHeadSpec:
        if self.outputs != "raw":
            return self
        if not self.anchors or not self.masks:
            raise ValueError("raw Darknet outputs need anchors and masks")
        if any(i < 0 or i >= len(self.anchors) for mask in self.masks for i in mask):
            raise ValueError(f"a mask refers to an anchor beyond the {len(self.anchors)} given")
        if self.scale_x_y and len(self.scale_x_y) != len(self.masks):
            raise ValueError("scale_x_y needs one value per mask")
        return self


class YoloxHeadSpec(_Strict):
    """How a YOLOX ONNX output is decoded.

    Official exports (``decode_in_inference=False``) give (batch, boxes, 5 + classes) with raw
    grid offsets and log sizes per stride, objectness and class scores already through a
    sigmoid. ``decoded: true`` is for files exported with the decode inside the graph, whose
    boxes are already centre/size in input pixels.
    """

    strides: tuple[int, ...] = (8, 16, 32)
    decoded: bool = False

    @field_validator("strides")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(s <= 0 for s in value):
            raise ValueError("strides must be positive")
        return value


class ModelSpec(_Strict):
    """One model: identity, provenance, files, classes, input and head."""

    name: ModelName
    family: Family
    source: str = Field(min_length=1)  # where the weights come from, for audits
    licence: str = Field(min_length=1)
    # Folder holding the files: absolute, relative to the manifest, or "package:NAME/sub/dir"
    # for files shipped inside an installed Python distribution (located, never imported).
    location: str = Field(min_length=1)
    install_hint: str = ""  # the command that installs or restores the files, quoted in errors
    files: dict[FileRole, FileEntry]
    classes: tuple[str, ...] | None = None  # in output order; else the "names" file
    input: InputSpec
    darknet: DarknetHeadSpec = DarknetHeadSpec()
    yolox: YoloxHeadSpec = YoloxHeadSpec()

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        roles = set(self.files)
        if self.family == "darknet-yolov4":
            if not ({"cfg", "weights"} <= roles or "onnx" in roles):
                raise ValueError("a darknet-yolov4 model needs files cfg and weights, or onnx")
            if self.darknet.outputs == "raw" and "onnx" not in roles:
                raise ValueError("darknet.outputs: raw describes an ONNX file; add files.onnx")
        elif "onnx" not in roles or roles & {"cfg", "weights"}:
            raise ValueError("a yolox model is one ONNX file: give files.onnx and no cfg/weights")
        if (self.classes is None) == ("names" not in roles):
            raise ValueError("give the class names either as classes (a list) or files.names")
        if self.classes is not None:
            if not self.classes or any(not c.strip() for c in self.classes):
                raise ValueError("classes must be non-empty names")
            if len(set(self.classes)) != len(self.classes):
                raise ValueError("classes must not repeat")
        return self

    @property
    def has_darknet_files(self) -> bool:
        """Whether the native cfg/weights are there, which OpenCV and the torch model read."""
        return {"cfg", "weights"} <= set(self.files)


class Manifest(_Strict):
    models: tuple[ModelSpec, ...]

    @model_validator(mode="after")
    def _unique_names(self) -> Manifest:
        names = [m.name for m in self.models]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"model names must be unique, repeated: {repeated}")
        return self
