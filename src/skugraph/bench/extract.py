"""``skugraph bench extract``: titles per second and peak memory of every way to run one tagger
on the same titles: Hugging Face ``pipeline("token-classification")`` (the same encoder and
classifier as a ``BertForTokenClassification``, without our gazetteer and bigram features and
CRF), and our ``torch``, ``torch-bf16``, ``onnx`` and ``onnx-int8`` runtimes. Each runs in a
process of its own (so its peak RSS is its own): it loads the model, warms up on a few titles,
then tags every title; model loading is not timed."""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skugraph.bench.workload import titles_for
from skugraph.tagging.crf_tagger import is_crf_tagger
from skugraph.tagging.ensemble import network_dirs
from skugraph.tagging.runtime import INT8_FILE, ONNX_FILE, RUNTIMES, export_onnx

SYSTEMS = ("hf-pipeline", *RUNTIMES)
ENSEMBLE_SYSTEM = "ensemble"  # also run where the model directory is an ensemble: the default extractor
WARM_UP = 64


def _hf_model(model_dir: Path, out: Path) -> Path:
    """The tagger's encoder and the encoder-facing part of its classifier as a Hugging Face
    token-classification model directory."""
    import torch
    from transformers import AutoTokenizer, BertForTokenClassification

    from skugraph.lm.model import load_weights
    from skugraph.tagging.model import TaggerModel

    tagger, *_ = TaggerModel.load(model_dir)
    tags = tagger.config.tags
    hf = load_weights(BertForTokenClassification, model_dir, num_labels=len(tags), id2label=dict(enumerate(tags)),
                      label2id={t: i for i, t in enumerate(tags)})
    hidden = hf.config.hidden_size
    with torch.no_grad():
        hf.classifier.weight.copy_(tagger.classifier.weight[:, :hidden])
        hf.classifier.bias.copy_(tagger.classifier.bias)
    hf.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.model_max_length = tagger.config.window  # longer titles are windowed, as ours are
    tokenizer.save_pretrained(out)
    return out


def run_worker(system: str, model_dir: Path, titles: list[str], batch_size: int = 64, dev: Path | None = None) -> dict:
    """Tag ``titles`` with one system in this process; titles/s and this process's peak RSS, and
    with ``dev`` (labelled titles) its strict entity micro F1 there (after the timing)."""
    if system == "hf-pipeline":
        from transformers import pipeline

        with tempfile.TemporaryDirectory(prefix="skugraph-hf-") as scratch:
            directory = _hf_model(model_dir, Path(scratch))
            overlap = json.loads((model_dir / "skugraph.json").read_text("utf-8"))["tagger"]["stride"]
            tag = pipeline("token-classification", model=str(directory), aggregation_strategy="simple", device=-1, stride=overlap)
            tag(titles[:WARM_UP], batch_size=batch_size)
            began = time.perf_counter()
            tag(titles, batch_size=batch_size)
            seconds = time.perf_counter() - began
    else:
        from skugraph.tagging.tagger import Tagger, load_tagger

        # "ensemble": the model as extract loads it (with its CRF member, torch-bf16); its
        # network_seconds then cover the network, the CRF member and their averaging
        tagger = load_tagger(model_dir, "torch-bf16") if system == ENSEMBLE_SYSTEM else Tagger.load(model_dir, system)
        tagger.predict(titles[:WARM_UP], batch_size)
        began = time.perf_counter()
        scores = tagger.scores(titles, batch_size)
        network = time.perf_counter() - began
        tagger.decode_many(scores)
        seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    ours: dict = {}  # our runtimes: network and decoding time apart, and the F1 on ``dev``
    if system != "hf-pipeline":
        ours = {"network_seconds": round(network, 2), "decode_seconds": round(seconds - network, 2)}
        if dev is not None:
            from skugraph.corpus.ner import read_labelled

            ours["dev_f1"] = round(tagger.evaluate(read_labelled(dev)).micro.f1, 4)
    return {"system": system, "titles": len(titles), "seconds": round(seconds, 2), "titles_per_s": round(len(titles) / seconds),
            **ours, "peak_rss_mb": round(peak)}


def matmul_rate(dtype: str = "bfloat16", size: int = 2048, seconds: float = 2.0) -> float:
    """GFLOP/s of a square ``size`` matmul in ``dtype`` on torch's threads (the machine's peak
    for dense math, the yardstick of the physical limit)."""
    import torch

    a = torch.randn(size, size).to(getattr(torch, dtype))
    b = torch.randn(size, size).to(getattr(torch, dtype))
    a @ b
    runs, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        a @ b
        runs += 1
    return 2 * size**3 * runs / (time.perf_counter() - began) / 1e9


def matmul_rate_at_shapes(model_dir: Path, texts: list[str], batch_size: int = 64, seconds: float = 2.0) -> float:
    """GFLOP/s of the bf16 matmuls one encoder layer of the tagger makes on a batch of
    ``batch_size`` titles of the mean length of ``texts``: the four projections, the two
    feed-forward layers and attention's two batched products, each timed in turn for about
    ``seconds`` in all. Small models run far below a square matmul's rate, so this, not the
    square's, is the rate the physical limit divides by."""
    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    length = round(sum(len(text) for text in texts) / len(texts)) + 2
    tokens, hidden, inner, heads = batch_size * length, config.hidden_size, config.intermediate_size, config.num_attention_heads
    bf16 = torch.bfloat16
    shapes = [((tokens, hidden), (hidden, hidden), 4), ((tokens, hidden), (hidden, inner), 1), ((tokens, inner), (inner, hidden), 1),
              ((batch_size * heads, length, hidden // heads), (batch_size * heads, hidden // heads, length), 1),
              ((batch_size * heads, length, length), (batch_size * heads, length, hidden // heads), 1)]
    pairs = [(torch.randn(*a).to(bf16), torch.randn(*b).to(bf16), times) for a, b, times in shapes]
    flops = sum(2 * a.numel() * b.shape[-1] * times for a, b, times in pairs)  # multiply-adds of one layer
    for a, b, _ in pairs:
        a @ b
    runs, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        for a, b, times in pairs:
            for _ in range(times):
                a @ b
        runs += 1
    return flops * runs / (time.perf_counter() - began) / 1e9


def flops_per_title(model_dir: Path, texts: list[str]) -> float:
    """Multiply-add FLOPs of the tagger's network on one title of the mean length of ``texts``
    (the [CLS] and [SEP] included): the encoder's projections, attention and feed-forward
    layers, and the classifier."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    meta = json.loads((Path(model_dir) / "skugraph.json").read_text("utf-8"))["tagger"]
    tokens = sum(len(text) for text in texts) / len(texts) + 2  # character units
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_layer = 2 * tokens * (4 * hidden * hidden + 2 * hidden * inner) + 2 * 2 * tokens * tokens * hidden
    width = hidden + (meta["lexicon_dim"] if meta["lexicons"] else 0) + (meta["ngram_dim"] if meta["ngrams"] else 0)
    return layers * per_layer + 2 * tokens * width * len(meta["tags"])


def bench_extract(model_dir: Path, count: int = 2000, titles: Path | None = None, systems: tuple[str, ...] = SYSTEMS,
                  progress=None, dev: Path | None = None) -> dict:
    """Every system on the same ``count`` titles, each in its own process (and the ensemble
    :data:`ENSEMBLE_SYSTEM` where the directory is one); exports the ONNX files first when the
    model directory lacks them. ``dev``: labelled titles on which each of
    our runtimes is also scored (the F1 an int8 model loses). The ensemble's share of the
    physical limit counts each network it averages."""
    model_dir = Path(model_dir)
    if is_crf_tagger(model_dir):
        raise ValueError(f"{model_dir} holds a CRF tagger (`skugraph distill --student crf`): it has no network whose runtimes "
                         "this compares; benchmarks/distill.py --kind crf times it beside its teacher")
    if any(s.startswith("onnx") for s in systems) and not ((model_dir / ONNX_FILE).is_file() and (model_dir / INT8_FILE).is_file()):
        export_onnx(model_dir)
    texts = titles_for(count, titles)
    meta = json.loads((model_dir / "skugraph.json").read_text("utf-8"))
    if meta.get("ensemble", {}).get("use"):
        systems = (*systems, ENSEMBLE_SYSTEM)
    networks = 1 + len(network_dirs(meta))  # the ensemble runs each of its networks
    results = []
    with tempfile.TemporaryDirectory(prefix="skugraph-bench-") as scratch:
        source = Path(scratch) / "titles.json"
        source.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        for system in systems:
            done = subprocess.run([sys.executable, "-m", "skugraph.bench.extract", system, str(model_dir), str(source), str(dev or "")],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{system} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            if progress:
                progress(results[-1])
    base = next((r["titles_per_s"] for r in results if r["system"] == "hf-pipeline"), None)
    for result in results:
        result["x_hf_pipeline"] = round(result["titles_per_s"] / base, 2) if base else None
    flops, square, shaped = flops_per_title(model_dir, texts), matmul_rate(), matmul_rate_at_shapes(model_dir, texts)
    limit = shaped * 1e9 / flops
    for result in results:
        result["share_of_limit"] = round(result["titles_per_s"] * (networks if result["system"] == ENSEMBLE_SYSTEM else 1) / limit, 2)
    return {"model": str(model_dir), "titles": count, "source": str(titles) if titles else "sample catalogue titles, cycled",
            "dev": str(dev) if dev else None, "cpu": platform.processor() or platform.machine(),
            "physical_limit": {"mflops_per_title": round(flops / 1e6, 1), "bf16_gflops_at_model_shapes": round(shaped),
                               "bf16_square_gflops": round(square), "titles_per_s": round(limit)},
            "results": results}


if __name__ == "__main__":  # one worker: python -m skugraph.bench.extract SYSTEM MODEL_DIR TITLES_JSON [DEV]
    chosen, directory, path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    labelled = Path(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else None
    print(json.dumps(run_worker(chosen, directory, json.loads(path.read_text(encoding="utf-8")), dev=labelled)))
