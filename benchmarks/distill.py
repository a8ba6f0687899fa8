"""Distillation (``skugraph distill``): a smaller student of a trained tagger, its dev F1 and
titles/s beside the teacher's, measured in one run.

    python benchmarks/distill.py --dataset ding2019 --data ../shared/data --teacher /tmp/ding-model --layers 2 --threads 1
    python benchmarks/distill.py --dataset jd-gaiic --data ../shared/data --teacher /tmp/jd-model --layers 2 --int8 --threads 1
    python benchmarks/distill.py --dataset jd-gaiic --data ../shared/data --teacher /tmp/jd-model --kind crf --threads 1

The teacher is a model directory from ``benchmarks/ner.py --save-model`` (the network and its
CRF member). The unlabelled texts are the data set's own training titles (text only) plus
``--extra N`` titles of ``--extra-file`` (default the shared JD titles); ``--gold`` adds the
gold loss on the training titles. The student is chosen and calibrated on dev, as training
does; its dev F1 is printed as saved (``load_tagger``) and as its network alone (or with the
CRF member, when dev kept the network alone); ``--int8`` adds both models on the ``onnx-int8``
runtime (the teacher from an exported copy; a CRF student has no network to export). ``--kind crf``
distils the CRF alone (``skugraph distill --student crf``) instead of a network. ``--from-student DIR`` measures a student an
earlier run kept (``--student DIR``) instead of distilling again.

Speed: ``predict`` on ``--speed-titles`` titles of the shared JD corpus on ``--threads`` torch
threads, in chunks of 250, every system timed on each chunk ``--repeats`` times in turn and the
fastest kept (the machine is shared), the time split into the network's forward pass, the CRF
member's marginals, the per-character averaging and the decoding (a CRF student: its features and
label scores, then the decoding of its own chain).

Writes benchmarks/results/distill-<dataset>.json (``--kind crf``: distill-<dataset>-crf.json; ``--out``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from skugraph.corpus.ner import read_labelled
from skugraph.tagging.distill import DISTILLATION, STUDENTS, TARGETS, DistillConfig, distill
from skugraph.tagging.crf_tagger import CrfTagger
from skugraph.tagging.ensemble import EnsembleTagger, NetworksTagger
from skugraph.tagging.model import METADATA
from skugraph.tagging.runtime import INT8_FILE, export_onnx
from skugraph.tagging.self_training import read_unlabelled
from skugraph.tagging.tagger import Tagger, load_tagger

sys.path.insert(0, str(Path(__file__).parent))
from record import save_record  # noqa: E402  (benchmarks/record.py)

DATASETS = {
    "ding2019": {"dir": "ner/ecommerce-ding2019", "train": "train.bieos", "dev": "dev.bieos"},
    "jd-gaiic": {"dir": "ner/jd-gaiic2022", "train": "train.bio", "dev": "dev.bio"},
}


def stage_seconds(tagger: Tagger | EnsembleTagger | CrfTagger, texts: list[str]) -> dict[str, float]:
    """Seconds of each stage of ``tagger.predict(texts)``."""
    if not isinstance(tagger, EnsembleTagger):
        began = time.perf_counter()
        scores = tagger.scores(texts)
        middle = time.perf_counter()
        tagger.decode_many(scores)
        return {"crf" if isinstance(tagger, CrfTagger) else "network": middle - began, "decode": time.perf_counter() - middle}
    marks = [time.perf_counter()]
    neural = ([network.scores(texts) for network in tagger.networks] if isinstance(tagger, NetworksTagger)
              else tagger.neural.scores(texts))
    marks.append(time.perf_counter())
    crf = tagger.crf.marginals(texts)
    marks.append(time.perf_counter())
    combined = tagger.combine(texts, neural, crf)
    marks.append(time.perf_counter())
    tagger.decode_many(combined)
    marks.append(time.perf_counter())
    return {stage: marks[i + 1] - marks[i] for i, stage in enumerate(("network", "crf", "combine", "decode"))}


def timed(systems: dict[str, Tagger | EnsembleTagger | CrfTagger], texts: list[str], rounds: int, chunk: int = 250) -> dict[str, dict]:
    """Each system's stage seconds on ``texts``: the texts in chunks, every round timing each
    system on each chunk in turn, and each (system, chunk, stage) keeping its fastest round
    (the machine is shared: the minimum is the least disturbed reading)."""
    best: dict[str, list[dict[str, float]]] = {name: [] for name in systems}
    for first in range(0, len(texts), chunk):
        part = texts[first : first + chunk]
        readings = {name: [stage_seconds(tagger, part) for _ in range(rounds)] for name, tagger in systems.items()}
        for name, rows in readings.items():
            best[name].append({stage: min(row[stage] for row in rows) for stage in rows[0]})
    out = {}
    for name, chunks in best.items():
        stages = {stage: sum(c[stage] for c in chunks) for stage in chunks[0]}
        total = sum(stages.values())
        out[name] = {"seconds": round(total, 2), "titles_per_second": round(len(texts) / total, 1),
                     "stages": {k: round(v, 2) for k, v in stages.items()}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--teacher", type=Path, required=True, help="the teacher's model directory")
    parser.add_argument("--test", type=Path, help="also score this labelled file (same format as the data set's)")
    parser.add_argument("--kind", choices=STUDENTS, default="network", help="the student: the teacher's first --layers, or the CRF alone")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--targets", choices=TARGETS, default="ensemble")
    parser.add_argument("--gold", action=argparse.BooleanOptionalAction, default=True, help="gold loss on the training titles")
    parser.add_argument("--gold-weight", type=float, default=0.5)
    parser.add_argument("--crf-member", action=argparse.BooleanOptionalAction, default=True,
                        help="keep the teacher's CRF member beside the student (no: the student network alone, chosen on its own dev F1)")
    parser.add_argument("--extra", type=int, default=4000, help="unlabelled titles of --extra-file beside the training titles")
    parser.add_argument("--extra-file", type=Path, help="default: DATA/corpus/jd-titles.txt")
    parser.add_argument("--minutes", type=float, default=15.0, help="student training budget")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--int8", action="store_true", help="also time the student on the onnx-int8 runtime")
    parser.add_argument("--speed-titles", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of timing (the fastest of each chunk kept)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's; 1 on a busy shared machine)")
    parser.add_argument("--from-student", type=Path, help="measure this student directory (from an earlier run) instead of distilling")
    parser.add_argument("--student", type=Path, help="keep the student's directory here (default: a temporary one)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    began = time.perf_counter()
    spec = DATASETS[args.dataset]
    folder = args.data / spec["dir"]
    train_file, dev_file = folder / spec["train"], folder / spec["dev"]
    corpus = args.extra_file or args.data / "corpus" / "jd-titles.txt"
    train_texts = [item.text for item in read_labelled(train_file, on_error=lambda _: None)]
    extra = read_unlabelled(corpus, limit=args.extra, exclude=train_texts) if args.extra else []
    speed = read_unlabelled(args.data / "corpus" / "jd-titles.txt", limit=args.speed_titles, seed=7)
    scratch = Path(tempfile.mkdtemp(prefix="skugraph-distill-"))
    try:
        unlabelled = scratch / "unlabelled.txt"
        unlabelled.write_text("\n".join(train_texts + extra) + "\n", encoding="utf-8")
        student_dir = args.student or scratch / "student"
        config = DistillConfig(teacher=args.teacher, unlabelled=unlabelled, out=student_dir, student=args.kind, layers=args.layers, dev=dev_file,
                               train=train_file if args.gold else None, targets=args.targets, gold_weight=args.gold_weight,
                               keep_crf=args.crf_member,
                               int8=args.int8, epochs=args.epochs, time_budget_minutes=args.minutes, limit=len(train_texts) + len(extra))

        def epoch_line(record: dict) -> None:
            if "epoch" in record:
                print(f"epoch {record['epoch']:>3}  loss {record['loss']:.4f}  dev F1 {record.get('dev_f1', float('nan')):.4f}"
                      f"  network {record.get('network_f1', float('nan')):.4f}  {record['seconds']} s", flush=True)

        if args.from_student:
            student_dir = args.from_student
            section = json.loads((student_dir / METADATA).read_text("utf-8"))[DISTILLATION]
        else:
            section = distill(config, progress=epoch_line).record
        teacher, student = load_tagger(args.teacher, threads=args.threads), load_tagger(student_dir, threads=args.threads)
        teacher_network = teacher.neural if isinstance(teacher, EnsembleTagger) else teacher
        network = student.neural if isinstance(student, EnsembleTagger) else student
        systems: dict[str, Tagger | EnsembleTagger | CrfTagger] = {"teacher": teacher, "student": student}
        if isinstance(student, EnsembleTagger):
            systems["student network alone"] = network
        elif isinstance(student, Tagger) and section["settings"]["keep_crf"] and isinstance(teacher, EnsembleTagger):  # dev kept the network alone
            systems["student + CRF member"] = EnsembleTagger.load(student_dir)
        if args.int8:  # the teacher's int8 too: a copy of its directory, exported
            shutil.copytree(args.teacher, scratch / "teacher")
            export_onnx(scratch / "teacher")
            systems["teacher int8"] = load_tagger(scratch / "teacher", "onnx-int8", threads=args.threads)
            if not isinstance(student, CrfTagger):
                if not (student_dir / INT8_FILE).is_file():
                    export_onnx(student_dir)
                systems["student int8"] = load_tagger(student_dir, "onnx-int8", threads=args.threads)
        evaluations = {"dev": dev_file, **({"test": args.test} if args.test else {})}
        labels = set(teacher_network.config.entity_types)
        results: dict[str, dict] = {name: {"f1": {}} for name in systems}
        for split, path in evaluations.items():
            data = read_labelled(path, on_error=lambda _: None)
            data = [type(d)(d.text, tuple(s for s in d.spans if s.label in labels), d.id) for d in data]
            for name, tagger in systems.items():
                results[name]["f1"][split] = round(tagger.evaluate(data).micro.f1, 4)
        for tagger in systems.values():
            tagger.predict(speed[:64])  # warm-up
        for name, reading in timed(systems, speed, args.repeats).items():
            results[name].update(reading)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base = results["teacher"]
    shape = (f"student {section['layers']} ({section['targets']} targets, {section['unlabelled']['texts']} texts, "
             f"{section['epochs_run']} epochs, best {section['best_epoch']})" if section.get("layers")
             else f"student the CRF alone ({section['unlabelled']['texts']} texts, {section['tagged_texts']} tagged by the teacher)")
    print(f"\n{args.dataset}: teacher {section['teacher']['layers']} layers, {shape}")
    print(f"{'system':<24}{'dev F1':>8}{'titles/s':>10}{'speed-up':>10}  stages (s)")
    for name, result in results.items():
        stages = ", ".join(f"{k} {v}" for k, v in result["stages"].items())
        print(f"{name:<24}{result['f1']['dev']:>8.4f}{result['titles_per_second']:>10.1f}"
              f"{result['titles_per_second'] / base['titles_per_second']:>9.2f}x  {stages}")
    suffix = "-crf" if args.kind == "crf" else ""
    out_path = args.out or Path(__file__).parent / "results" / f"distill-{args.dataset}{suffix}.json"
    record = {
        "command": " ".join(["python", *sys.argv]),
        "dataset": args.dataset,
        "teacher": str(args.teacher),
        "speed_titles": len(speed),
        "threads": torch.get_num_threads(),
        "wall_seconds": round(time.perf_counter() - began, 1),
        "distillation": {k: v for k, v in section.items() if k != "settings"},
        "systems": results,
    }
    save_record(out_path, record)
    print(f"wrote {out_path} ({record['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
