"""Inference runtimes for the tagger's emission network (encoder, lexicon and n-gram features,
classifier; the CRF decoding stays in numpy either way).

- ``torch``: PyTorch in fp32; ``torch-bf16``: under bf16 autocast, where the CPU has bf16
  (AMX / AVX-512 BF16), else fp32.
- ``onnx``: ONNX Runtime on ``tagger.onnx``; ``onnx-int8``: on ``tagger.int8.onnx``, the same
  graph with its matrix weights quantised to int8 (dynamic quantisation: activations
  quantised per batch, so VNNI/AMX int8 kernels run where the CPU has them).

:func:`export_onnx` writes both files into the model directory (``skugraph export-onnx``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

RUNTIMES = ("torch", "torch-bf16", "onnx", "onnx-int8")
ONNX_FILE = "tagger.onnx"
INT8_FILE = "tagger.int8.onnx"
_INPUTS = ("input_ids", "attention_mask", "lexicon", "ngrams")


class _Emissions(torch.nn.Module):
    """The model's forward with every input positional, as the exporter wants it."""

    def __init__(self, model: torch.nn.Module, names: tuple[str, ...]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs, strict=True)))


def export_onnx(model_dir: str | Path, quantize: bool = True) -> list[Path]:
    """Export a tagger directory's emission network to ``tagger.onnx`` (dynamic batch and
    width) and, with ``quantize``, ``tagger.int8.onnx`` (and so each of the other networks its
    ensemble averages, in their directories); returns the files written."""
    from skugraph.tagging.crf_tagger import is_crf_tagger
    from skugraph.tagging.ensemble import network_dirs
    from skugraph.tagging.tagger import Tagger, window_batch

    model_dir = Path(model_dir)
    if is_crf_tagger(model_dir):
        raise ValueError(f"{model_dir} holds a CRF tagger (`skugraph distill --student crf`): it has no network to export, "
                         "and runs as it is")
    tagger = Tagger.load(model_dir, "torch")
    sample = [tagger.encoder.encode(text) for text in ("华为 Mate 60 手机 蓝色", "适用于苹果 iPhone 15 手机壳")]
    inputs = window_batch(sample, [(0, len(e.ids)) for e in sample], tagger.tokenizer)
    names = tuple(name for name in _INPUTS if name in inputs)
    axes = {name: {0: "batch", 1: "width"} for name in names} | {"emissions": {0: "batch", 1: "width"}}
    path = model_dir / ONNX_FILE
    torch.onnx.export(_Emissions(tagger.model.eval(), names), tuple(inputs[n] for n in names), str(path), input_names=list(names),
                      output_names=["emissions"], dynamic_axes=axes, opset_version=17, dynamo=False)
    from onnxruntime.transformers.optimizer import optimize_model

    encoder = tagger.model.encoder.config  # fuse LayerNorm, residual adds and GELU into ONNX Runtime's kernels
    optimize_model(str(path), model_type="bert", num_heads=encoder.num_attention_heads, hidden_size=encoder.hidden_size,
                   opt_level=1).save_model_to_file(str(path))
    written = [path]
    if quantize:
        from onnx import TensorProto
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(path), str(model_dir / INT8_FILE), weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})  # the fused ops' outputs are float
        written.append(model_dir / INT8_FILE)
    for name in network_dirs(tagger.meta):  # the other networks an ensemble averages
        written += export_onnx(model_dir / name, quantize)
    return written


class OnnxEmissions:
    """Emission scores from an exported model with ONNX Runtime (``threads`` default: the cores)."""

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime

        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no ONNX model here; run `skugraph export-onnx {Path(path).parent}` first")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy threads between batches
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]

    def __call__(self, inputs: dict[str, torch.Tensor]) -> np.ndarray:
        feed = {name: inputs[name].numpy().astype(np.float32 if name == "lexicon" else np.int64) for name in self.names}
        return self.session.run(["emissions"], feed)[0]


def onnx_emissions(model_dir: str | Path, runtime: str, threads: int | None = None) -> OnnxEmissions:
    """The ONNX Runtime session of ``runtime`` (``onnx`` or ``onnx-int8``) for a model directory."""
    return OnnxEmissions(Path(model_dir) / (INT8_FILE if runtime == "onnx-int8" else ONNX_FILE), threads)

