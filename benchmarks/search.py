"""Product search quality: plain BM25 against skugraph's search (BM25 + constraints read from the
query by the tagger and matched against the extracted facts), in the same run.

    python benchmarks/search.py --data ../shared/data [--tagger DIR | --minutes 10] [--test PATH]

The products are titles no tagger here has seen: with ``--tagger DIR`` (trained on the JD
train split) the JD attribute NER dev split; without it, the dev split plus the share
``--collection-share`` of the train split that the tagger trained here (random weights,
``--minutes``) leaves out; or the titles of ``--test PATH``, any labelled title file. Their
facts are *extracted* by that tagger, never read from the gold labels. Queries are synthesised from the gold labels: a product's type plus one
or two of its other values, as its title wrote them (a compatible brand or model as
``适用X``); relevant = every product whose gold facts include all the query asks for. The
same tagger reads the queries. Reports nDCG@10 and recall@50; target (issue 7): skugraph at
least +10% nDCG@10 over BM25. Writes benchmarks/results/search.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from record import save_record

from skugraph.apps.query_parser import QueryParser
from skugraph.apps.search import SearchIndex
from skugraph.apps.search_eval import evaluate_search, gold_facts, synthesise_queries
from skugraph.corpus.ner import LabelledText, read_labelled, write_conll
from skugraph.extract import ExtractorConfig, build_extractor
from skugraph.facts.build import FactBuilder
from skugraph.records import Listing, Mention


SPLIT = "search-split.json"  # beside a tagger trained here: which train titles it left out


def train_tagger(texts: list[LabelledText], minutes: float, out: Path) -> Path:
    """A tagger from random weights on ``texts`` (a tenth held out for early stopping)."""
    from skugraph.lm.finetune import at_epoch_ends
    from skugraph.tagging.train import TrainTaggerConfig, train_tagger as fit

    held = len(texts) // 10
    out.mkdir(parents=True, exist_ok=True)
    write_conll(texts[:held], out / "dev.bio")
    write_conll(texts[held:], out / "train.bio")
    config = TrainTaggerConfig(train=out / "train.bio", dev=out / "dev.bio", out=out / "tagger", base_model="scratch:small",
                               random_init=True, ngrams=True, epochs=30, time_budget_minutes=minutes)
    result = fit(config, progress=at_epoch_ends(lambda r: print(f"  tagger epoch {r['epoch']} dev F1 {r.get('dev_f1', 0):.3f}", flush=True)))
    print(f"tagger: {result.epochs} epochs, dev F1 {result.dev['micro']['f1']:.3f}" if result.dev else "tagger trained")
    return out / "tagger"


def tagger_f1(tagger_dir: Path) -> float | None:
    """The tagger's own dev F1 (on the titles it held out for early stopping)."""
    meta = json.loads((tagger_dir / "skugraph.json").read_text())
    return meta.get("dev_report", {}).get("micro", {}).get("f1")


def listings_of(texts: list[LabelledText], stem: str) -> list[Listing]:
    return [Listing(f"{stem}-{i}", t.text) for i, t in enumerate(texts)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--test", type=Path, help="search the titles of this labelled file instead of the JD dev split")
    parser.add_argument("--tagger", type=Path, help="a tagger trained on the JD train split (default: train one here)")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget of the tagger trained here")
    parser.add_argument("--collection-share", type=float, default=0.5,
                        help="share of the train split searched (not trained on) when the tagger is trained here")
    parser.add_argument("--save-tagger", type=Path, help="keep the tagger trained here (reuse it with --tagger: same split)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--constraint-weight", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "search.json")
    args = parser.parse_args()
    began = time.perf_counter()
    root = args.data / "ner/jd-gaiic2022"
    path = args.test or root / "dev.bio"
    texts = read_labelled(path)
    listings = listings_of(texts, path.stem)
    with tempfile.TemporaryDirectory(prefix="skugraph-search-") as work:
        tagger_dir = args.tagger
        split_file = tagger_dir / SPLIT if tagger_dir else None
        held_out = json.loads(split_file.read_text()) if split_file and split_file.is_file() else None
        if tagger_dir is None or held_out:
            share = held_out["collection_share"] if held_out else args.collection_share
            train = read_labelled(root / "train.bio")
            random.Random(held_out["split_seed"] if held_out else args.seed).shuffle(train)
            searched = int(len(train) * share)
            if tagger_dir is None:
                tagger_dir = train_tagger(train[searched:], args.minutes, args.save_tagger or Path(work))
                (tagger_dir / SPLIT).write_text(json.dumps({"split_seed": args.seed, "collection_share": share}))
                held_out = {"collection_share": share}
            if not args.test:
                texts += train[:searched]
                listings += listings_of(train[:searched], "train")
        extractor = build_extractor(ExtractorConfig("tagger", tagger_dir))
        builder = FactBuilder()
        started = time.perf_counter()
        found = extractor.extract_many(listings)
        facts = [f for listing, mentions in zip(listings, found, strict=True) for f in builder.build(listing, mentions)]
        extract_seconds = time.perf_counter() - started
        gold = gold_facts(listings, [f for listing, text in zip(listings, texts, strict=True) for f in builder.build(
            listing, [Mention(listing.id, "title", s.start, s.end, text.text[s.start:s.end], s.label, 1.0, "gold@1") for s in text.spans])])
        queries = synthesise_queries(gold, args.queries, args.seed)
        index = SearchIndex.from_facts(listings, facts)
        query_parser = QueryParser(extractor, builder)
        print(f"{len(index)} products ({path}{' + held-out train titles' if held_out and not args.test else ''}), {len(facts)} extracted facts, {len(queries)} queries "
              f"(mean {sum(len(q.relevant) for q in queries) / max(len(queries), 1):.1f} relevant each)")
        tagger_dev_f1 = tagger_f1(tagger_dir)
        systems = {"bm25": evaluate_search(index, queries, None),
                   "skugraph": evaluate_search(index, queries, query_parser, args.constraint_weight)}
    base = systems["bm25"]["ndcg_at_10"]
    print(f"\n{'system':<10}{'nDCG@10':>9}{'recall@50':>11}")
    for name, scores in systems.items():
        print(f"{name:<10}{scores['ndcg_at_10']:>9.4f}{scores['recall_at_50']:>11.4f}")
    gain = systems["skugraph"]["ndcg_at_10"] / base - 1 if base else 0.0
    print(f"skugraph vs BM25: {gain:+.1%} nDCG@10 (target +10%)")
    examples = [{"query": q.text, "relevant": len(q.relevant)} for q in queries[:5]]
    save_record(args.out, {"command": " ".join(["python", *sys.argv]), "file": str(path), "products": len(index),
                           "collection": "dev" if not held_out or args.test else f"dev + {held_out['collection_share']:.0%} of train",
                           "tagger": str(args.tagger) if args.tagger else f"trained here, random init, {args.minutes} min",
                           "tagger_dev_f1": tagger_dev_f1,
                           "queries": len(queries), "examples": examples, "systems": systems, "ndcg_gain": round(gain, 4),
                           "extract_seconds": round(extract_seconds, 1), "wall_seconds": round(time.perf_counter() - began, 1)})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
