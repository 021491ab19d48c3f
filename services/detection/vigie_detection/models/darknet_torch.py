"""Vigie's own PyTorch definition of Darknet YOLO networks, built from the ``.cfg``.

Owning the model definition (rather than a runtime's importer) lets the detector run on
PyTorch, CPU or CUDA, and lets Vigie export the ONNX file that onnxruntime serves. Supported:
``convolutional`` (batch norm or bias; leaky, linear, relu, mish, logistic, swish), ``maxpool``,
``route`` (with ``groups``/``group_id``), ``shortcut``, ``upsample`` and ``yolo`` layers: what
yolov4-tiny, yolov4 and yolov3 use. Batch norm is folded into the convolution when the weights
are loaded, since inference never updates it.

With ``decode=True`` the forward pass ends like OpenCV's Darknet reader: rows of
``cx, cy, w, h`` (relative to the input), objectness, then objectness x class probability, the
rows of all YOLO layers concatenated in cfg order and, within a layer, by cell then anchor.
With ``decode=False`` it returns each YOLO layer's raw input map, for heads decoded outside.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vigie_detection.models.darknet_cfg import Section, parse_cfg
from vigie_detection.models.darknet_weights import WeightsCursor
from vigie_detection.models.errors import ModelUnsupported

# Darknet's batch-norm epsilon (normalize_cpu adds .000001f to the variance).
BN_EPSILON = 1e-6
LEAKY_SLOPE = 0.1


def _activate(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "leaky":
        return F.leaky_relu(x, LEAKY_SLOPE)
    if kind == "linear":
        return x
    if kind == "relu":
        return F.relu(x)
    if kind == "mish":
        return x * torch.tanh(F.softplus(x))
    if kind == "logistic":
        return torch.sigmoid(x)
    return x * torch.sigmoid(x)  # swish


_ACTIVATIONS = frozenset({"leaky", "linear", "relu", "mish", "logistic", "swish"})


class ConvLayer(nn.Module):
    def __init__(self, section: Section, in_channels: int) -> None:
        super().__init__()
        self.filters = section.get_int("filters")
        self.size = section.get_int("size", 1)
        stride = section.get_int("stride", 1)
        groups = section.get_int("groups", 1)
        pad = self.size // 2 if section.get_int("pad", 0) else section.get_int("padding", 0)
        self.batch_normalize = bool(section.get_int("batch_normalize", 0))
        self.activation = section.get_str("activation", "logistic")
        if self.activation not in _ACTIVATIONS:
            raise ModelUnsupported(
                f"{section.where}: activation={self.activation} is not supported; "
                f"supported: {', '.join(sorted(_ACTIVATIONS))}"
            )
        if in_channels % groups or self.filters % groups:
            raise ModelUnsupported(f"{section.where}: groups={groups} does not divide channels")
        self.conv = nn.Conv2d(in_channels, self.filters, self.size, stride, pad, groups=groups)
        self.where = section.where

    def load(self, cursor: WeightsCursor) -> None:
        """Darknet order: biases (BN beta), then BN gamma, mean, variance, then the kernels."""
        n = self.filters
        what = f"the convolution at {self.where}"
        bias = cursor.take(n, what)
        weight_shape = tuple(self.conv.weight.shape)
        if self.batch_normalize:
            gamma, mean, var = (cursor.take(n, what) for _ in range(3))
        weight = cursor.take(int(np.prod(weight_shape)), what).reshape(weight_shape)
        if self.batch_normalize:
            factor = gamma / np.sqrt(var + BN_EPSILON)
            weight = weight * factor[:, None, None, None]
            bias = bias - mean * factor
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
            self.conv.bias.copy_(torch.from_numpy(np.ascontiguousarray(bias)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _activate(self.conv(x), self.activation)


class MaxPoolLayer(nn.Module):
    def __init__(self, section: Section) -> None:
        super().__init__()
        self.size = section.get_int("size", 1)
        self.stride = section.get_int("stride", 1)
        # Darknet pads by size-1 in total, the smaller half before: same output size as the
        # input divided by the stride, rounded up.
        padding = section.get_int("padding", self.size - 1)
        self.pad = (padding // 2, padding - padding // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.size == self.stride and self.pad == (0, self.size - 1):
            return F.max_pool2d(x, self.size, self.stride, ceil_mode=True)
        before, after = self.pad
        x = F.pad(x, (before, after, before, after), value=float("-inf"))
        return F.max_pool2d(x, self.size, self.stride)


class UpsampleLayer(nn.Module):
    def __init__(self, section: Section) -> None:
        super().__init__()
        self.stride = section.get_int("stride", 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=float(self.stride), mode="nearest")


class YoloLayer(nn.Module):
    """Turns one head map into rows; the maths of Darknet's (and OpenCV's) yolo layer."""

    def __init__(self, section: Section, in_channels: int) -> None:
        super().__init__()
        self.classes = section.get_int("classes")
        anchors = section.get_floats("anchors")
        mask = section.get_ints("mask", tuple(range(len(anchors) // 2)))
        if len(anchors) % 2 or any(i >= len(anchors) // 2 for i in mask):
            raise ModelUnsupported(f"{section.where}: anchors and mask do not agree")
        if section.get_int("new_coords", 0):
            raise ModelUnsupported(
                f"{section.where}: new_coords=1 (scaled YOLOv4) is not supported"
            )
        self.num = len(mask)
        if in_channels != self.num * (5 + self.classes):
            raise ModelUnsupported(
                f"{section.where}: the layer before gives {in_channels} channels, the yolo "
                f"layer needs {self.num} x (5 + {self.classes})"
            )
        self.scale_x_y = section.get_float("scale_x_y", 1.0)
        pairs = [(anchors[2 * i], anchors[2 * i + 1]) for i in mask]
        self.register_buffer("anchors", torch.tensor(pairs, dtype=torch.float32))
        self.mask = mask

    def forward(self, x: torch.Tensor, input_hw: tuple[int, int]) -> torch.Tensor:
        _, _, h, w = x.shape
        per_box = 5 + self.classes
        # (n, anchors, values, h, w) -> (n, h, w, anchors, values): OpenCV's row order.
        x = x.reshape(-1, self.num, per_box, h, w).permute(0, 3, 4, 1, 2)
        ys = torch.arange(h, dtype=x.dtype, device=x.device).view(h, 1, 1)
        xs = torch.arange(w, dtype=x.dtype, device=x.device).view(1, w, 1)
        s = self.scale_x_y
        xy = torch.sigmoid(x[..., 0:2]) * s - (s - 1.0) / 2.0
        cx = (xy[..., 0] + xs) / w
        cy = (xy[..., 1] + ys) / h
        bw = torch.exp(x[..., 2]) * self.anchors[:, 0] / input_hw[1]
        bh = torch.exp(x[..., 3]) * self.anchors[:, 1] / input_hw[0]
        objectness = torch.sigmoid(x[..., 4:5])
        scores = torch.sigmoid(x[..., 5:]) * objectness
        rows = torch.cat([torch.stack([cx, cy, bw, bh], dim=-1), objectness, scores], dim=-1)
        return rows.reshape(rows.shape[0], -1, per_box)


class DarknetModel(nn.Module):
    """A Darknet network as a torch module; build it with :func:`load_darknet`."""

    def __init__(self, sections: list[Section], decode: bool = True) -> None:
        super().__init__()
        net, layers = sections[0], sections[1:]
        self.channels = net.get_int("channels", 3)
        self.input_hw = (net.get_int("height", 416), net.get_int("width", 416))
        self.decode = decode
        self.layers = nn.ModuleList()
        self.kinds: list[str] = []
        self.sources: list[tuple[int, ...]] = []  # absolute indices a route/shortcut reads
        self.group: list[tuple[int, int]] = []  # (groups, group_id) of each route
        self.yolo_indices: list[int] = []
        out_channels: list[int] = []
        channels = self.channels
        for index, section in enumerate(layers):
            sources: tuple[int, ...] = ()
            groups, group_id = 1, 0
            if section.kind in ("convolutional", "conv"):
                layer: nn.Module = ConvLayer(section, channels)
                channels = layer.filters
            elif section.kind in ("maxpool", "max"):
                layer = MaxPoolLayer(section)
            elif section.kind == "upsample":
                layer = UpsampleLayer(section)
            elif section.kind == "route":
                sources = _absolute(section.get_ints("layers"), index, section)
                groups = section.get_int("groups", 1)
                group_id = section.get_int("group_id", 0)
                total = sum(out_channels[i] for i in sources)
                if total % groups or not 0 <= group_id < groups:
                    raise ModelUnsupported(f"{section.where}: bad groups/group_id")
                channels = total // groups
                layer = nn.Identity()
            elif section.kind == "shortcut":
                sources = _absolute(section.get_ints("from"), index, section)
                if section.get_str("activation", "linear") != "linear":
                    raise ModelUnsupported(f"{section.where}: shortcut activation must be linear")
                layer = nn.Identity()
            elif section.kind in ("yolo",):
                layer = YoloLayer(section, channels)
                self.yolo_indices.append(index)
            else:
                raise ModelUnsupported(
                    f"{section.where}: [{section.kind}] layers are not supported by Vigie's "
                    f"Darknet model (convolutional, maxpool, route, shortcut, upsample, yolo are)"
                )
            self.layers.append(layer)
            self.kinds.append(section.kind)
            self.sources.append(sources)
            self.group.append((groups, group_id))
            out_channels.append(channels)
        if not self.yolo_indices:
            raise ModelUnsupported(f"{layers[-1].source}: the cfg has no [yolo] layer")

    @property
    def classes(self) -> int:
        return self.layers[self.yolo_indices[0]].classes  # type: ignore[return-value]

    def load_weights(self, cursor: WeightsCursor) -> None:
        for layer in self.layers:
            if isinstance(layer, ConvLayer):
                layer.load(cursor)
        cursor.finish()

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        input_hw = (int(x.shape[2]), int(x.shape[3]))
        outputs: list[torch.Tensor] = []
        heads: list[torch.Tensor] = []
        for index, layer in enumerate(self.layers):
            kind = self.kinds[index]
            if kind == "route":
                parts = [outputs[i] for i in self.sources[index]]
                x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
                groups, group_id = self.group[index]
                if groups > 1:
                    x = torch.chunk(x, groups, dim=1)[group_id]
            elif kind == "shortcut":
                for source in self.sources[index]:
                    x = x + outputs[source]
            elif isinstance(layer, YoloLayer):
                heads.append(layer(x, input_hw) if self.decode else x)
            else:
                x = layer(x)
            outputs.append(x)
        if not self.decode:
            return tuple(heads)
        return heads[0] if len(heads) == 1 else torch.cat(heads, dim=1)


def _absolute(indices: tuple[int, ...], index: int, section: Section) -> tuple[int, ...]:
    absolute = tuple(i if i >= 0 else index + i for i in indices)
    if not absolute or any(not 0 <= i < index for i in absolute):
        raise ModelUnsupported(f"{section.where}: refers to a layer that does not exist yet")
    return absolute


def load_darknet(cfg: Path, weights: Path, decode: bool = True) -> DarknetModel:
    """Build the network described by ``cfg`` and fill it from ``weights``, in eval mode."""
    model = DarknetModel(parse_cfg(cfg), decode=decode)
    model.load_weights(WeightsCursor(weights, cfg))
    return model.eval()
