"""Torch-free inference: ONNX Runtime sessions, preprocessing, tokenizer and model bundles."""

from __future__ import annotations
