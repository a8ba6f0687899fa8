"""Pretrain the small Chinese encoder on all shared unlabelled text under a time budget.

    python benchmarks/pretrain.py --data ../shared/data [--minutes 30] [--preset small] [--force]

Corpus: JD titles, e-commerce queries, and the review text of the 9-category and opinion
sets (their text columns are found by name). The model lands in a stable cache directory keyed by corpus hash and settings
(~/.cache/skugraph/models/...), so the fine-tuning benchmarks reuse it instead of retraining;
rerunning with the same inputs reports the cached run. Beside it, in the same run, the
same model's fp32 throughput is measured for a few steps as the baseline for the bf16
speed-up. ``--test PATH`` scores held-out MLM loss of the model on any text file.
Writes benchmarks/results/pretrain.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from skugraph.lm.corpus import file_sha256
from skugraph.lm.pretrain import METADATA, PretrainConfig, default_cache, evaluate_mlm, pretrain
from record import save_record

CORPUS = [
    "corpus/jd-titles.txt",
    "corpus/ecom-queries.txt",
    "reviews/online-shopping-9cats/train.csv",  # text column "review"
    "reviews/opinion-zhijiang2019/reviews.csv",  # text column "Reviews"
]


def model_dir(files: list[Path], settings: dict) -> Path:
    key = hashlib.sha256(json.dumps([[file_sha256(f) for f in files], settings], sort_keys=True).encode()).hexdigest()[:16]
    return default_cache() / "models" / f"pretrain-{settings['preset']}-{key}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--force", action="store_true", help="retrain even when the cached model exists")
    parser.add_argument("--test", type=Path, help="also report held-out MLM loss on this text file (a text a line)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "pretrain.json")
    args = parser.parse_args()
    settings = {"preset": args.preset, "minutes": args.minutes, "batch_size": args.batch_size, "lr": args.lr, "recipe": 3}
    files = [args.data / relative for relative in CORPUS]
    for path in files:
        if not path.is_file():
            sys.exit(f"{path}: not found (pass --data)")
    with tempfile.TemporaryDirectory() as scratch:
        target = model_dir(files, settings)
        cached = (target / METADATA).exists() and not args.force
        if not cached:
            config = PretrainConfig(
                corpus=files, out=target, base_model=f"scratch:{args.preset}", time_budget_minutes=args.minutes,
                batch_size=args.batch_size, learning_rate=args.lr,
            )
            pretrain(config, progress=lambda p: print(f"step {p['step']:>6}  loss {p['loss']:.3f}  {p['tokens_per_second']:,} tok/s", flush=True) if p["step"] % 200 == 0 else None)
        meta = json.loads((target / METADATA).read_text("utf-8"))
        if "heldout_token_loss" not in meta:  # a model cached before this figure was recorded
            meta["heldout_token_loss"] = round(evaluate_mlm(target, files, whole_word=False, heldout_every=100), 4)
        baseline = fp32_throughput(files, args.preset, args.batch_size, Path(scratch))
    record = {
        "command": " ".join(["python", *sys.argv]),
        "model_dir": str(target),
        "cached": cached,
        "tokens_seen": meta["tokens_seen"],
        "steps": meta["steps"],
        "train_seconds": meta["train_seconds"],
        "tokens_per_second": meta["tokens_per_second"],
        "precision": meta["precision"],
        "heldout_loss": meta["heldout_loss"],
        "heldout_perplexity": meta["heldout_perplexity"],
        "heldout_token_loss": meta["heldout_token_loss"],
        "baseline_fp32_tokens_per_second": baseline,
        "loss_curve": meta["loss_curve"],
        "heldout_curve": meta["heldout_curve"],
    }
    if args.test:
        record["test"] = {"file": str(args.test), "mlm_loss": test_loss(target, args.test)}
    print(f"model: {target}{' (cached)' if cached else ''}")
    print(f"tokens seen {meta['tokens_seen']:,} in {meta['train_seconds']} s: {meta['tokens_per_second']:,} tokens/s ({meta['precision']})")
    print(f"baseline, same model in fp32: {baseline:,} tokens/s")
    print(f"held-out MLM loss, whole-word masking {meta['heldout_loss']} (perplexity {meta['heldout_perplexity']}),"
          f" single-token masking {meta['heldout_token_loss']}; earlier naive fp32 run: 5.4 after 8M tokens")
    if args.test:
        print(f"test MLM loss on {args.test}: {record['test']['mlm_loss']:.4f}")
    save_record(args.out, record)
    print(f"wrote {args.out}")


def fp32_throughput(files: list[Path], preset: str, batch_size: int, scratch: Path) -> int:
    config = PretrainConfig(
        corpus=files[:1], out=scratch / "fp32", base_model=f"scratch:{preset}", steps=30, batch_size=batch_size,
        precision="fp32", log_every=10,
    )
    return int(pretrain(config).metadata["tokens_per_second"])


def test_loss(model: Path, texts: Path) -> float:
    return evaluate_mlm(model, [texts])


if __name__ == "__main__":
    main()
