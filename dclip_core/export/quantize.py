"""Smaller encodings of an exported tower: dynamic int8 (CPU) and fp16 weights (GPU).

Both keep float32 inputs and outputs, so the runtime feeds every variant the same arrays. The cost
in accuracy is measured by the bundle writer against the fp32 tower and stored in ``bundle.json``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import onnx

from dclip_core.errors import ExportError

# MatMul carries almost all of a transformer's weights and time; Gather covers the token embedding
# table (100 MB of the ViT-B text tower). The patch-embedding Conv stays fp32: ConvInteger is slow
# on the CPU and missing on CUDA, and the layer is tiny.
INT8_OP_TYPES = ("MatMul", "Gather")


def quantize_int8(source: Path, target: Path) -> None:
    """Write a dynamically quantised (int8 weights, per-tensor) copy of an ONNX model.

    Per-channel scales were tried and measured no better on CLIP towers while taking three
    times longer to produce, so they are off.

    Raises:
        ExportError: quantisation failed.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        with _quantiser_advice_silenced():
            quantize_dynamic(
                source,
                target,
                op_types_to_quantize=list(INT8_OP_TYPES),
                weight_type=QuantType.QInt8,
                per_channel=False,
            )
    except (RuntimeError, ValueError, onnx.checker.ValidationError) as exc:
        raise ExportError(f"int8 quantisation of {source.name} failed: {exc}") from exc
    if not target.is_file():
        raise ExportError(f"int8 quantisation of {source.name} wrote no file")


@contextlib.contextmanager
def _quantiser_advice_silenced() -> Iterator[None]:
    """Hide the quantiser's "consider pre-processing" warning, leaving logging as it was.

    The quantiser logs it through the root logger on every call. Its pre-processing (symbolic
    shape inference) fails on CLIP's text tower, and quality is measured anyway, so the advice is
    only noise. A module-level ``logging.warning`` also installs a root handler when there is none
    (``basicConfig``), so a NullHandler is put there for the call to keep the process's logging
    configuration untouched.
    """
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    previous_level = root.level
    root.addHandler(placeholder)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(previous_level)
        root.removeHandler(placeholder)


def convert_fp16(source: Path, target: Path) -> None:
    """Write a copy of an ONNX model with float16 weights and float32 inputs/outputs.

    Meant for CUDA, where half precision halves memory traffic; on the CPU ONNX Runtime lacks
    fp16 kernels for many ops and inserts casts, so fp16 is usually slower there than fp32.

    Raises:
        ExportError: conversion failed.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        model = onnx.load(str(source))
        # Keeping fp32 IO puts a Cast at each end, so callers never handle float16 arrays.
        converted = convert_float_to_float16(model, keep_io_types=True)
        onnx.save(converted, str(target))
    except (RuntimeError, ValueError, onnx.checker.ValidationError) as exc:
        raise ExportError(f"fp16 conversion of {source.name} failed: {exc}") from exc
