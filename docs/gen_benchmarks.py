"""Benchmark pages from ``benchmarks/results/*.json``: no figure is copied by hand.

A page (those under ``docs/benchmarks/``, or any page that cites a figure) is prose with
markers that this module replaces:

* ``{{ table NAME [ARG …] }}`` — a table built from one or more result files, followed by
  the command that made each file (or "command not recorded" where the file lacks one);
* ``{{ value FILE KEY.PATH [FORMAT] }}`` — one figure of a result file inside a sentence;
  FORMAT is a Python format spec (``,``, ``.3f``, ``.1%``) or ``pct`` (×100, one decimal).

Run it as a script to print a rendered page: ``python docs/gen_benchmarks.py docs/benchmarks/quality.md``.
"""

from __future__ import annotations

import json
import posixpath
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MARKER = re.compile(r"\{\{\s*(table|value)\s+([^}]*?)\s*\}\}")
DASH = "—"


class BenchmarkDocsError(ValueError):
    """A marker that names a table, file or figure that does not exist."""


class Results:
    """The result files of one directory, read once; remembers which ones a table read."""

    def __init__(self, directory: Path = RESULTS) -> None:
        self.directory = directory
        self.records: dict[str, dict] = {}
        for path in sorted(directory.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as error:
                raise BenchmarkDocsError(f"{path}: cannot read ({error})") from None
            if not isinstance(record, dict):
                raise BenchmarkDocsError(f"{path}: not a JSON object")
            self.records[path.stem] = record
        self.read: list[str] = []  # names read since the last reset, in order
        self.used: set[str] = set()  # every name any table or value read

    def get(self, name: str) -> dict:
        """The record of ``benchmarks/results/{name}.json``."""
        if name not in self.records:
            raise BenchmarkDocsError(f"no result file {self.directory / (name + '.json')}")
        if name not in self.read:
            self.read.append(name)
        self.used.add(name)
        return self.records[name]

    def matching(self, prefix: str) -> list[str]:
        """Names of the result files whose name starts with ``prefix``, sorted."""
        return [name for name in self.records if name.startswith(prefix)]


# --- formatting ---------------------------------------------------------------------------


def pct(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage without the sign (0.7403 → 74.0)."""
    return DASH if value is None else f"{100 * value:.{digits}f}"


def num(value: Any) -> str:
    """A count with thousands separators; other values as written."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 1000 else f"{value:g}"
    return str(value)


def fixed(value: float | None, digits: int = 3) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; ``|`` inside a cell is escaped."""
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def commands(results: Results, names: Iterable[str]) -> str:
    """Which command made each file: files made by one command share a line."""
    by_command: dict[str, list[str]] = {}
    for name in names:
        command = results.records[name].get("command")
        by_command.setdefault(command or "", []).append(f"`{name}.json`")
    lines = []
    for command, files in by_command.items():
        made_by = f"`{command}`" if command else "command not recorded"
        lines.append(f"Made by {made_by} → {', '.join(files)}")
    return "\n\n".join(lines)


def lookup(record: Any, path: str, where: str) -> Any:
    """``record[a][b][0]…`` for the dotted ``path`` ``a.b.0``."""
    value = record
    for key in path.split("."):
        if isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            raise BenchmarkDocsError(f"{where}: no {path!r} (stops at {key!r})")
    return value


def format_value(value: Any, spec: str) -> str:
    if spec == "pct":
        return pct(value)
    if not spec:
        return num(value)
    return format(value, spec)


# --- tables -------------------------------------------------------------------------------

TABLES: dict[str, Callable[..., str]] = {}


def table(name: str) -> Callable[[Callable[..., str]], Callable[..., str]]:
    def register(function: Callable[..., str]) -> Callable[..., str]:
        TABLES[name] = function
        return function
    return register


def micro(scores: dict) -> dict:
    """Micro P/R/F1 of a score block (the English sets score pairs and have no ``micro``)."""
    return scores.get("micro", scores)


@table("rules-ner")
def rules_ner(results: Results) -> str:
    record = results.get("rules_ner")
    rows, types = [], []
    for data_set, block in record["results"].items():
        for system, scores in block.items():
            if system == "file":
                continue
            m = scores["micro"]
            rows.append((data_set, system, num(scores["texts"]), pct(m["precision"]), pct(m["recall"]),
                         pct(m["f1"]), num(scores["titles_per_second"])))
            types += [(data_set, system, kind, num(s["support"]), pct(s["f1"]))
                      for kind, s in scores["per_type"].items()]
    return (markdown_table(("data set (dev)", "extractor", "titles", "P", "R", "F1", "titles/s"), rows)
            + "\n\nPer type:\n\n" + markdown_table(("data set", "extractor", "type", "gold spans", "F1"), types))


@table("facts")
def facts(results: Results) -> str:
    rows, calibration, predicates, plots = [], [], [], []
    for name in results.matching("facts"):
        record = results.get(name)
        for data_set, block in record["results"].items():
            for system, scores in block.items():
                if not isinstance(scores, dict) or "micro" not in scores:
                    continue
                m = scores["micro"]
                fused = scores.get("after_fusion", {}).get("micro")
                rows.append((f"{name}.json", data_set, system, num(block["texts"]), num(m["support"]), pct(m["precision"]), pct(m["recall"]),
                             pct(m["f1"]), pct(fused["f1"]) if fused else DASH))
                c = scores.get("calibration")
                if c:
                    calibration.append((f"{name}.json", data_set, system, num(c["facts"]), fixed(c["ece_raw"]), fixed(c["ece_calibrated"]),
                                        pct(c["precision_kept"]) if c["precision_kept"] is not None else DASH,
                                        pct(c["recall_kept"])))
                predicates += [(f"{name}.json", data_set, system, predicate, num(s["support"]), pct(s["precision"]), pct(s["recall"]), pct(s["f1"]))
                               for predicate, s in scores["per_type"].items()]
        plots += [f"![{png}](results/{png})" for png in record.get("plots", [])]
    text = markdown_table(("record", "data set (dev)", "extractor", "titles", "gold facts", "P", "R", "F1", "F1 after fusion"), rows)
    if calibration:
        text += ("\n\nFact confidence calibrated on dev, cross-fitted (each part scored by a calibration fitted on the"
                 " others): expected calibration error before and after, and the precision and share of right facts"
                 " kept at the threshold each calibration picks for precision 0.90:\n\n"
                 + markdown_table(("record", "data set", "extractor", "judged facts", "ECE raw", "ECE calibrated",
                                   "precision at threshold", "right facts kept"), calibration))
    if plots:
        text += "\n\n" + "\n".join(plots)
    return text + "\n\nPer predicate:\n\n" + markdown_table(
        ("record", "data set", "extractor", "predicate", "gold facts", "P", "R", "F1"), predicates)


NER_SYSTEMS = {"crf": "CRF baseline", "random": "tagger, random init", "pretrained": "tagger, pretrained",
               "minilm": "tagger, MiniLM", "ensemble": "ensemble", "labeller": "gold-only model (loaded)",
               "self": "self-training"}


@table("ner")
def ner(results: Results) -> str:
    names = results.matching("ner-")
    present = [key for key in NER_SYSTEMS if any(key in results.get(n)["systems"] for n in names)]
    rows, calibration = [], []
    for name in names:
        record = results.get(name)
        cells = []
        for key in present:
            system = record["systems"].get(key)
            if system is None:
                cells.append(DASH)
                continue
            score = micro(system["scores"]["dev"])
            cells.append(pct(score["f1"]) + (f" ({system['train_seconds']:.0f} s)" if system["train_seconds"] else ""))
            c = system.get("calibration")
            if c:
                calibration.append((name.removeprefix("ner-"), NER_SYSTEMS[key], c["temperature"],
                                    fixed(c["ece_uncalibrated"]), fixed(c["ece_calibrated"])))
        minutes = f"{record['wall_seconds'] / 60:.1f} min"
        rows.append((name.removeprefix("ner-"), num(record["dev_texts"]), *cells, minutes))
    header = ("data set (dev)", "dev texts", *(NER_SYSTEMS[key] for key in present), "whole run")
    bands = [(name.removeprefix("ner-"), NER_SYSTEMS[key],
              *(pct(system["scores"]["dev"]["bands"][band]["f1"]) for band in ("head", "torso", "tail")),
              pct(system["scores"]["dev"]["bands_as_graph_facts"]["tail"]["f1"]))
             for name in names for key, system in results.get(name)["systems"].items() if "bands" in system["scores"]["dev"]]
    by_band = ("\n\nBy frequency band (types with ≥ 300 training spans, 30–299, under 30; micro F1 over each band's types;"
               " the last column counts a tail span found as the type the ontology gives its meaning):\n\n"
               + markdown_table(("data set", "system", "head F1", "torso F1", "tail F1", "tail F1 as graph facts"), bands)
               if bands else "")
    return (markdown_table(header, rows) + by_band
            + "\n\nCalibration on dev (expected calibration error of span confidences):\n\n"
            + markdown_table(("data set", "system", "temperature", "ECE before", "ECE after"), calibration))


@table("pii")
def pii(results: Results) -> str:
    record = results.get("pii")
    sets = [key for key, value in record.items() if isinstance(value, dict) and "recall" in value and "texts" in value]
    rows = [(key, num(record[key]["texts"]), num(record[key]["values"]), pct(record[key]["recall"]),
             pct(record[key]["precision"]), num(record[key]["texts_per_second"])) for key in sets]
    real = record.get("real_titles")
    text = markdown_table(("set", "texts", "values", "recall %", "precision %", "texts/s"), rows)
    if real:
        text += "\n\nReal titles:\n\n" + markdown_table(
            ("titles", "spans masked", "titles touched", "judged spans", "precision %"),
            [(num(real["titles"]), num(real["spans_masked"]), f"{real['share_touched']:.1%}",
              num(real["judgements"]["spans"]), pct(real["precision"]))])
    return text


@table("reviews")
def reviews(results: Results) -> str:
    record = results.get("reviews")
    sentiment = [(system, num(s["dev"]["texts"]), fixed(s["dev"]["accuracy"]), fixed(s["dev"]["macro_f1"]))
                 for system, s in record["sentiment"]["systems"].items()]
    opinions = [(system, fixed(s["dev"]["precision"]), fixed(s["dev"]["recall"]), fixed(s["dev"]["f1"]))
                for system, s in record["opinions"]["systems"].items()]
    aspects = [(domain, num(a["dev"]), fixed(a["majority"]["accuracy"]), fixed(a["linear"]["accuracy"]),
                fixed(a["majority"]["macro_f1"]), fixed(a["linear"]["macro_f1"]))
               for domain, a in record["aspects"].items()]
    return ("Review sentiment (dev):\n\n" + markdown_table(("system", "reviews", "accuracy", "macro-F1"), sentiment)
            + "\n\nOpinion tuples (dev, exact tuples):\n\n" + markdown_table(("system", "P", "R", "F1"), opinions)
            + "\n\nAspect polarity (dev):\n\n"
            + markdown_table(("domain", "dev", "majority accuracy", "linear accuracy", "majority macro-F1",
                              "linear macro-F1"), aspects))


@table("relations")
def relations(results: Results) -> str:
    checked = results.get("relations")["results"]["checked"]
    systems = [key for key in checked if isinstance(checked[key], dict)]
    rows = [(system, pct(checked[system]["micro"]["precision"]), pct(checked[system]["micro"]["recall"]),
             pct(checked[system]["micro"]["f1"]), pct(checked[system]["accuracy"]), num(checked[system]["pairs"]))
            for system in systems]
    relation_names = list(checked[systems[0]]["per_relation"])
    per_relation = [(relation, num(checked[systems[0]]["per_relation"][relation]["support"]),
                     *(pct(checked[s]["per_relation"][relation]["f1"]) for s in systems))
                    for relation in relation_names]
    return (markdown_table(("system (hand-checked pairs)", "P", "R", "F1", "accuracy", "pairs"), rows)
            + "\n\nF1 per relation:\n\n" + markdown_table(("relation", "pairs", *systems), per_relation))


REALWORLD_COUNTS = ("facts", "products", "merges", "merges_with_conflicting_models",
                    "merges_with_conflicting_measures", "brand_clusters_joining_distinct_brands",
                    "unit_family_changes", "brand_is_compatible_brand", "seconds")


@table("realworld")
def realworld(results: Results) -> str:
    titles = results.get("realworld")["titles"]
    extractors = titles["extractors"]
    rows = [(count.replace("_", " "), *(num(extractors[e][count]) for e in extractors)) for count in REALWORLD_COUNTS]
    rows.insert(2, ("Brand nodes", *(num(extractors[e]["graph"].get("Brand")) for e in extractors)))
    ingest = [(num(titles["titles"]), num(titles["ingested"]), num(titles["rejected"]), num(titles["rows_lost"]),
               num(titles["masked_titles"]), num(titles["masked_spans"]))]
    return (markdown_table(("titles", "ingested", "rejected", "rows lost", "titles masked", "spans masked"), ingest)
            + "\n\n" + markdown_table(("count", *extractors), rows))


@table("identity")
def identity(results: Results) -> str:
    record = results.get("identity")
    rows, kinds = [], []
    for path, s in record["sets"].items():
        name = Path(path).name
        rows.append((name, num(s["pairs"]), num(s["same"]), num(s["merged"]), fixed(s["precision"]), fixed(s["recall"]),
                     fixed(s["f1"]), num(len(s["false_merges"])), num(len(s["missed"]))))
        kinds += [(name, kind, num(count)) for kind, count in s["pairs_by_kind"].items()]
    return (markdown_table(("pairs file", "pairs", "same", "merged", "P", "R", "F1", "false merges", "missed"), rows)
            + "\n\nPairs by kind:\n\n" + markdown_table(("pairs file", "kind", "pairs"), kinds))


@table("brands")
def brands(results: Results) -> str:
    record = results.get("brands-jd")
    systems = record["results"]
    sets = list(next(iter(systems.values())))
    header = ("system", *(f"{s} {m}" for s in sets for m in ("P", "R", "F1")))
    rows = [(system, *(pct(scores[s][m]) for s in sets for m in ("precision", "recall", "f1")))
            for system, scores in systems.items()]
    mined = systems.get("mined", {}).get("jd", {})
    kinds = [(kind, right) for kind, right in mined.get("right_by_kind", {}).items()]
    text = markdown_table(header, rows)
    if kinds:
        text += "\n\nMined, JD pairs judged right by kind:\n\n" + markdown_table(("kind", "right"), kinds)
    return text


@table("matching")
def matching(results: Results) -> str:
    rows = []
    for name in results.matching("matching-"):
        record = results.get(name)
        cross = record["cross_encoder"]["valid"]
        attribute = record.get("attribute_matcher", {}).get("valid", {}).get("f1")
        rows.append((record["dataset"], f"{num(record['train_pairs'])} ({num(record['train_matches'])})",
                     pct(record["baseline"]["valid"]["f1"]), pct(attribute),
                     f"{pct(cross['f1'])} ({pct(cross['precision'])} / {pct(cross['recall'])})",
                     num(len(record["cross_encoder"]["history"])), num(record["target_valid_f1"]),
                     num(record["ditto_test_f1"])))
    return markdown_table(("data set", "train pairs (matches)", "rapidfuzz", "attribute matcher",
                           "cross-encoder (P / R)", "epochs run", "target", "Ditto (test)"), rows)


@table("blocking")
def blocking(results: Results) -> str:
    record = results.get("blocking")
    rows = [(f"{data_set} ({num(r['true_matches'])} matches)", num(r["all_pairs"]),
             *(f"{fixed(r[way]['recall'])} / {num(r[way]['candidates'])}" for way in ("tokens", "neighbours", "both")))
            for data_set, r in record["results"].items()]
    return markdown_table(("data set", "cross pairs", "tokens: recall / candidates", "neighbours", "both"), rows)


@table("completion")
def completion(results: Results, name: str = "completion") -> str:
    record = results.get(name)
    rows = [(system, fixed(s["mrr"]), fixed(s["hits_at_1"]), fixed(s["hits_at_10"]),
             f"{record['ratio_to_popularity'][system]:.2f}") for system, s in record["systems"].items()]
    systems = list(record["systems"])
    per_relation = [(relation, num(next(iter(r.values()))["count"]), *(fixed(r[s]["hits_at_10"]) for s in systems))
                    for relation, r in record.get("per_relation", {}).items()]
    text = markdown_table(("system", "MRR", "Hits@1", "Hits@10", "× popularity (Hits@10)"), rows)
    if per_relation:
        text += "\n\nHits@10 per relation:\n\n" + markdown_table(("relation", "hidden", *systems), per_relation)
    return text


@table("search")
def search(results: Results, name: str = "search") -> str:
    record = results.get(name)
    rows = [(system, fixed(s["ndcg_at_10"]), fixed(s["recall_at_50"]), num(s["queries"]))
            for system, s in record["systems"].items()]
    return markdown_table(("system", "nDCG@10", "recall@50", "queries"), rows)


@table("recommend")
def recommend(results: Results) -> str:
    record = results.get("recommend")
    rows = [(system, fixed(s["mrr"]), fixed(s["hits_at_10"]), num(s["count"]))
            for system, s in record["systems"].items()]
    return markdown_table(("system", "MRR", "Hits@10", "hidden edges"), rows)


@table("extract")
def extract(results: Results, name: str = "extract") -> str:
    record = results.get(name)
    rows = [(r["system"], num(r["titles_per_s"]), f"{r['x_hf_pipeline']:.2f}", num(r.get("network_seconds")),
             num(r.get("decode_seconds")), num(r["peak_rss_mb"]), fixed(r.get("dev_f1"), 4)) for r in record["results"]]
    limit = record["physical_limit"]
    header = ("system", "titles/s", "× HF pipeline", "network s", "decode s", "peak RSS MB", "dev F1")
    if "bf16_gflops_at_model_shapes" not in limit:  # a run made before the rate was measured at the model's shapes
        return (markdown_table(header, rows)
                + f"\n\nPhysical limit of the model, measured in the same run: {limit['mflops_per_title']} MFLOP a title"
                f" ÷ {limit['bf16_matmul_gflops']} GFLOP/s bf16 (a 2048² matmul) = {num(limit['titles_per_s'])} titles/s.")
    rows = [(*row[:3], f"{r['share_of_limit']:.2f}", *row[3:]) for row, r in zip(rows, record["results"], strict=True)]
    return (markdown_table((*header[:3], "share of the limit", *header[3:]), rows)
            + f"\n\nPhysical limit of the model, measured in the same run: {limit['mflops_per_title']} MFLOP a title"
            f" ÷ {limit['bf16_gflops_at_model_shapes']} GFLOP/s, the rate of its own bf16 matmuls at a batch of 64 titles"
            f" (a 2048² matmul: {limit['bf16_square_gflops']}) = {num(limit['titles_per_s'])} titles/s.")


@table("distill")
def distill(results: Results) -> str:
    rows = []
    for name in results.matching("distill"):
        record = results.get(name)
        section = record["distillation"]
        layers = f"{section['layers']} of {section['teacher']['layers']}" if section.get("layers") else "the CRF alone"
        for system, r in record["systems"].items():
            stages = ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in r.get("stages", {}).items())
            rows.append((name.removeprefix("distill-"), system, layers if system != "teacher" else "", fixed(r["f1"]["dev"], 4),
                         num(r["titles_per_second"]), f"{r['titles_per_second'] / record['systems']['teacher']['titles_per_second']:.2f}×",
                         stages))
    return markdown_table(("run (data set, dev)", "system", "student", "F1", "titles/s (1 thread)", "× teacher",
                           "seconds per stage"), rows)


@table("load")
def load(results: Results) -> str:
    rows, parts = [], []
    for name in results.matching("load"):
        r = results.get(name)
        jsonl = r.get("ours_from_jsonl")
        rows.append((num(r["listings"]), num(r["facts"]), "Parquet" if jsonl else "JSONL", num(r["ours"]["seconds"]), num(r["ours"]["facts_per_s"]),
                     num(r["ladybug_copy"]["seconds"]), f"{r['ours_vs_copy']:.2f}×",
                     f"{num(jsonl['seconds'])} ({jsonl['vs_copy']:.2f}×)" if jsonl else "",
                     f"{r['our_store_statements_vs_copy']:.2f}×", num(r["same_graph_as_copy"]),
                     num(r["update"]["seconds"]), f"{r['update']['share_of_full_load']:.1%}",
                     num(r["ours"].get("peak_rss_mb")), num(r["ladybug_copy"].get("peak_rss_mb")), num(r.get("buffer_pool_mb"))))
        parts += [(num(r["listings"]), part, num(r["ours"]["parts"][part]), num(r["update"]["parts"].get(part)))
                  for part in r["ours"]["parts"]]
    header = ("listings", "facts", "facts read as", "ours s", "facts/s", "COPY s", "ours vs COPY", "the facts as JSONL: s (vs COPY)",
              "store statements vs COPY",
              "same graph", "1% update s", "update / full load", "ours peak RSS MB", "COPY peak RSS MB", "page cache MB")
    return (markdown_table(header, rows) + "\n\nWhere the time goes (seconds):\n\n"
            + markdown_table(("listings", "part", "full load", "1% update"), parts))


@table("stream")
def stream(results: Results) -> str:
    rows = []
    for record in sorted((results.get(name) for name in results.matching("stream")), key=lambda r: r["listings"]):
        stages = record["stages"]
        run_name = f"{num(record['listings'])}, {record.get('extractor', 'rules')}" + (
            f" in {workers} processes" if (workers := record.get("extract_workers", 1 if record.get("extractor") == "tagger"
                                                                   else record.get("workers", 1))) > 1 else "") + (
            "" if record.get("complete", True) else ", no KG completion") + (
            f", {num(record['buffer_pool_mb'])} MB cache" if record.get("buffer_pool_mb") else "")
        rows += [(run_name, stage, num(s["seconds"]), num(s["listings_per_s"]), num(s["peak_rss_mb"]),
                  num(s.get("facts"))) for stage, s in stages.items()]
        if {"ingest", "extract", "fuse", "load"} <= stages.keys():
            run = [s for stage, s in stages.items() if stage != "generate"]
            seconds = sum(s["seconds"] for s in run)
            rows.append((run_name, f"**ingest to load** ({seconds / 60:.1f} min)", num(round(seconds, 1)),
                         num(round(record["listings"] / seconds)), num(max(s["peak_rss_mb"] for s in run)), ""))
    return markdown_table(("run (listings, extractor)", "stage", "seconds", "listings/s", "peak RSS MB (all processes)", "facts"), rows)


@table("scale")
def scale(results: Results) -> str:
    record = results.get("scale")
    rows = [(r["engine"], r["workers"], r["output"], num(r["seconds"]), num(r["listings_per_s"]),
             num(r.get("start_seconds")), num(r.get("steady_listings_per_s")), num(r.get("steady_per_worker")))
            for r in record["runs"]]
    return markdown_table(("engine", "workers", "output", "seconds", "listings/s", "start s", "steady listings/s",
                           "steady per worker"), rows)


@table("train-scale")
def train_scale(results: Results) -> str:
    record = results.get("train-scale")
    rows = [(r["engine"], r["workers"], num(r["wall_seconds"]), num(r["train_seconds"]), num(r["tokens"]),
             num(r["tokens_per_s"]), num(r["tokens_per_s_per_worker"]), r["threads_per_process"], r["final_loss"])
            for r in record["runs"]]
    return markdown_table(("engine", "workers", "wall s", "train s", "tokens", "tokens/s", "per worker",
                           "threads a process", "final loss"), rows)


@table("demo")
def demo(results: Results) -> str:
    record = results.get("demo")
    return markdown_table(("wall seconds", "peak RSS MB"), [(num(record["seconds"]), num(record["peak_rss_mb"]))])


@table("pretrain")
def pretrain(results: Results) -> str:
    r = results.get("pretrain")
    rows = [("tokens seen", num(r["tokens_seen"])), ("steps", num(r["steps"])),
            ("training seconds", num(r["train_seconds"])),
            (f"tokens/s ({r['precision']})", num(r["tokens_per_second"])),
            ("tokens/s, fp32 baseline", num(r["baseline_fp32_tokens_per_second"])),
            ("held-out MLM loss, whole-word masking", fixed(r["heldout_loss"], 2)),
            ("held-out MLM loss, single-token masking", fixed(r["heldout_token_loss"], 2))]
    return markdown_table(("figure", "value"), rows)


FUZZ_COUNTS = ("files", "records", "good_records", "bad_records", "crashes", "lost_good_records",
               "unreported_bad_records", "misplaced_reports", "facts_extracted", "facts_with_bad_spans")


@table("fuzz")
def fuzz(results: Results) -> str:
    record = results.get("fuzz")
    counts = [(key.replace("_", " "), num(record[key])) for key in FUZZ_COUNTS]
    kinds = [(kind.replace("_", " "), num(n)) for kind, n in record["bad_by_kind"].items()]
    return (markdown_table(("count", "value"), counts)
            + "\n\nBad records by kind of damage:\n\n" + markdown_table(("damage", "records"), kinds))


@table("api")
def api(results: Results) -> str:
    record = results.get("api")
    cases = record["test_cases"]
    rows = [(num(record["operations"]), num(cases["generated"]), num(cases["with_failures"]),
             num(record["server_errors"]), record["schemathesis"]["version"], num(record["schemathesis"]["seconds"]))]
    header = ("operations", "generated requests", "with failures", "server errors", "schemathesis", "seconds")
    return markdown_table(header, rows)


@table("labelling")
def labelling(results: Results) -> str:
    """``benchmarks/labelling.py``: learning curves by strategy, label errors found and fixed, weak against gold labels."""
    curves, errors, weak, plots = [], [], [], []
    for name in results.matching("labelling-"):
        record = results.get(name)
        data_set = f"{record['dataset']} (CRF {record['iterations']} it.)"
        if "strategies" in record:
            full = record["full"]["scores"]["dev"]["micro"]["f1"]
            curves += [(data_set, f"{record['start']} + {record['batch']}", strategy, pct(full),
                        pct(max(r["scores"]["dev"]["micro"]["f1"] for r in c["rounds"][:-1])),
                        f"{num(c.get('titles_needed'))} ({pct(c.get('share_needed'), 0)}%)" if c.get("share_needed") else DASH,
                        "yes" if c["complete"] else "no") for strategy, c in record["strategies"].items()]
            plots += [f"![{png}](results/{png})" for png in record.get("plots", [])]
        if "detection" in record or "runs" in record:  # one damage draw, or several and their means
            runs = record.get("runs", [record])
            draws = f" × {len(runs)} draws" if len(runs) > 1 else ""
            errors += [(data_set, f"{pct(runs[0]['rate'], 0)}%{draws}", f"{num(runs[0]['folds'])}",
                        *(pct(record[top][key]) for top in ("top5", "top10") for key in ("precision", "recall")),
                        pct(record["clean"]["dev"]["micro"]["f1"]),
                        *(pct(sum(r[key]["dev"]["micro"]["f1"] for r in runs) / len(runs)) for key in ("noisy", "fixed_top10")),
                        pct(record["share_recovered"], 0) + "%" if record["share_recovered"] is not None else DASH)]
        if "weak" in record:
            gold = record["gold"]["scores"]["dev"]["per_type"]
            weak += [(data_set, functions, *(f"{pct(run['scores']['dev']['per_type'][label]['f1'])} / {pct(gold[label]['f1'])}"
                                             for label in record["types"].values()))
                     for functions, run in record["weak"].items()]
    text = []
    if curves:
        text.append("Learning curves (dev F1; titles to come within a point of the full-set F1):\n\n" + markdown_table(
            ("data set", "start + batch", "strategy", "full set F1", "best F1 before", "titles needed", "complete"), curves))
    if errors:
        text.append("Label errors injected, found by `check_labels` (top 5% / 10% of the suspects) and fixed"
                    " (several draws: their means):\n\n" + markdown_table(
            ("data set", "injected", "folds", "P top 5%", "R top 5%", "P top 10%", "R top 10%", "F1 clean", "F1 noisy",
             "F1 fixed", "recovered"), errors))
    if weak:
        labels = next(results.records[n]["types"] for n in results.matching("labelling-") if "weak" in results.records[n])
        text.append("Weak labels: dev F1 of the CRF on weak labels / on gold labels, per type:\n\n" + markdown_table(
            ("data set", "functions / label model", *(f"{meaning} ({label})" for meaning, label in labels.items())), weak))
    return "\n\n".join(text + plots)


@table("other")
def other(results: Results, name: str) -> str:
    """Any result file no page shows: its scalar figures, flattened."""
    rows = [(key, num(value)) for key, value in flatten(results.get(name)) if key != "command"]
    return markdown_table(("figure", "value"), rows)


def flatten(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted key, scalar) of every scalar in nested dicts; lists are skipped."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif not isinstance(value, list):
        yield prefix, value


# --- pages --------------------------------------------------------------------------------


def render(template: str, results: Results, where: str = "<page>") -> str:
    """The template with every marker replaced by its table (and commands) or figure."""
    def replace(match: re.Match) -> str:
        kind, args = match.group(1), match.group(2).split()
        if kind == "value":
            if len(args) not in (2, 3):
                raise BenchmarkDocsError(f"{where}: {match.group(0)} needs FILE KEY.PATH [FORMAT]")
            record = results.get(args[0])
            return format_value(lookup(record, args[1], f"{where}: {args[0]}.json"), args[2] if len(args) == 3 else "")
        if not args or args[0] not in TABLES:
            raise BenchmarkDocsError(f"{where}: unknown table in {match.group(0)}; known: {', '.join(sorted(TABLES))}")
        results.read = []
        body = TABLES[args[0]](results, *args[1:])
        return body + "\n\n" + commands(results, results.read)

    return MARKER.sub(replace, template)


def overview(results: Results, pages: dict[str, set[str]]) -> str:
    """The benchmarks index: every result file, the page that shows it (``pages``: page path
    under docs/ → the files it read) and its command; files no page shows are shown here, flattened."""
    ordered = sorted(pages.items(), key=lambda item: item[0].startswith("benchmarks/"))  # a benchmark page wins
    page_of = {name: page for page, names in ordered for name in names}
    rows = []
    for name, record in results.records.items():
        page = page_of.get(name)
        link = f"[{Path(page).stem}]({posixpath.relpath(page, 'benchmarks')})" if page else "[below](#other-results)"
        command = f"`{record['command']}`" if record.get("command") else "command not recorded"
        rows.append((f"`{name}.json`", link, command))
    text = markdown_table(("result file", "shown on", "command"), rows)
    missing = [name for name in results.records if name not in page_of]
    if missing:
        text += "\n\n## Other results\n\n" + "\n\n".join(
            f"### {name}\n\n" + render(f"{{{{ table other {name} }}}}", results) for name in missing)
    return text


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python docs/gen_benchmarks.py PAGE.md", file=sys.stderr)
        return 2
    page = Path(argv[0])
    try:
        print(render(page.read_text(encoding="utf-8"), Results(), str(page)))
    except BenchmarkDocsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
