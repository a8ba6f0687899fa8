"""Inventory on the graph: how fast, and how good its substitutes are on real titles.

    python benchmarks/inventory.py [--products 20000] [--repeat 3] [--no-speed]
        [--titles ../shared/data/corpus/jd-titles.txt --limit 20000 --stock-outs 120
         --substitutes-out /tmp/substitutes.jsonl [--tagger DIR] [--seed 1] [--title-floor 0.15]
         [--substitute-model DIR]
         [--judged JUDGED.jsonl [--second-judge OTHER.jsonl]]] [--test PATH]
        [--out benchmarks/results/inventory.json]

**Speed.** A graph of ``--products`` generated products (:mod:`skugraph.bench.families`, one to
four listings each, extracted with the rules, fused, loaded; built once under
``.skugraph/bench-inventory``), every listing given stock, sales and a warehouse by the sample
catalogue's generator. Timed, the best of ``--repeat`` runs: the recommender read from the graph
(what ``skugraph inventory`` builds first; the server holds one), and the first ``inventory`` given
it (which works out the titles' vectors the recommender then keeps), beside the same run's read
of every listing's stock alone (the floor: one query and the sums).

**Substitutes on real titles.** The first ``--limit`` titles of ``--titles`` (or ``--test
PATH``), each a listing with generated stock and sales (no price: the data set has none, and a
made-up one would decide the price band), go through ingest, the rules (or ``--tagger DIR``),
fusion and load; the ``--stock-outs`` fastest-selling products out of stock are written with their top-3
substitutes to ``--substitutes-out`` (outside the repo: the titles are the data set's) for
hand-checking. A judged file (the same lines, each with ``"ok": true`` or ``false`` for each
substitute, and ``"fits"`` where an accessory's substitute fits the same device) gives the
precision and the fit rate; ``--second-judge`` (lines of the same form from another judge, who
saw neither the first judge's calls nor the scores, and may have judged other pairs too) gives
the precision by that judge, how often the two agree (and Cohen's kappa), and what share of the
pairs the first judge accepted the second accepts: the precision a list made only of pairs the
first judge accepted would reach by the second. Writes benchmarks/results/inventory.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from record import read_jsonl, save_record

from skugraph import pipeline
from skugraph.apps.inventory import inventory, product_stock, write_substitutes
from skugraph.apps.recommend import TITLE_FLOOR, Recommender
from skugraph.apps.substitute_model import SubstituteModel
from skugraph.corpus.ingest import ingest
from skugraph.extract import ExtractorConfig
from skugraph.graph.store import open_store
from skugraph.sample.generate import WAREHOUSES, stock_fields

#: units sold a day for a listing of unknown kind (real titles, the bench's families)
DAILY = (0.5, 20.0)


def _best(step, repeat: int) -> tuple[object, float]:
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = step()
        seconds.append(time.perf_counter() - began)
    return result, min(seconds)


def generated_graph(products: int, cache: Path) -> Path:
    """The speed benchmark's graph: family listings with stock, built once in ``cache``."""
    from skugraph.bench.families import family_listings

    graph, done = cache / "graph.lbug", cache / "built"
    if done.is_file():
        return graph
    cache.mkdir(parents=True, exist_ok=True)
    rng, gold = random.Random(0), set()
    with (cache / "catalogue.jsonl").open("w", encoding="utf-8") as handle:
        for product, record in family_listings(products * 5):
            if product not in gold and len(gold) == products:
                continue
            gold.add(product)
            handle.write(json.dumps(record | stock_fields(rng, DAILY, WAREHOUSES["CNY"]), ensure_ascii=False) + "\n")
    print(f"building a graph of {products} products in {cache}…", file=sys.stderr)
    ingest([cache / "catalogue.jsonl"], cache / "listings.jsonl", cache / "rejects.jsonl")
    pipeline.extract(cache / "listings.jsonl", cache / "facts.jsonl", workers=2)
    pipeline.fuse(cache / "listings.jsonl", cache / "facts.jsonl", cache / "fused.jsonl", complete=False)
    pipeline.load(graph, cache / "listings.jsonl", cache / "fused.jsonl")
    done.write_text(str(products), encoding="utf-8")
    return graph


def speed(graph: Path, repeat: int) -> dict:
    with open_store(graph, read_only=True) as store:
        products = store.query("MATCH (p:Product) RETURN count(p)").rows[0][0]
        stocked, floor = _best(lambda: product_stock(store), repeat)
        runs = []  # (recommender, inventory) seconds, each inventory the first of its recommender (which keeps what it works out)
        for _ in range(repeat):
            began = time.perf_counter()
            recommender = Recommender.from_store(store)
            built = time.perf_counter()
            found = inventory(store, recommender)
            runs.append((built - began, time.perf_counter() - built))
        cold, warm = min(runs, key=sum)
    return {"graph": str(graph), "products": products, "stocked_products": len(stocked), "listings": found.listings,
            "stock_outs": found.out_of_stock, "seconds": {"stock_read_alone": round(floor, 3), "recommender_from_graph": round(cold, 3),
                                                          "inventory_given_recommender": round(warm, 3),
                                                          "command": round(cold + warm, 3)},
            "target_seconds": 2.0, "met": {"server": warm < 2.0, "command": cold + warm < 2.0}}


def real_titles(titles: Path, limit: int, stock_outs: int, out: Path, work: Path, tagger: Path | None, seed: int = 0,
                title_floor: float = TITLE_FLOOR, model: Path | None = None) -> dict:
    """Real titles with generated stock (drawn with ``seed``) through the rules' pipeline; the
    stock-outs and their substitutes (those the substitute ``model`` accepts, where one is given)
    written to ``out``."""
    rng = random.Random(seed)
    lines = [line.strip() for line in titles.read_text(encoding="utf-8").splitlines() if line.strip()][:limit]
    source = work / "listings.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        names = ["id", "title", "stock", "sales", "sales_from", "sales_to", "warehouse"]
        writer.writerow(names)
        for number, title in enumerate(lines, 1):
            given = stock_fields(rng, DAILY, WAREHOUSES["CNY"])
            writer.writerow([f"jd-{number}", title, *(given[name] for name in names[2:])])
    ingest([source], work / "listings.jsonl", work / "rejects.jsonl")
    config = ExtractorConfig("tagger", tagger) if tagger else ExtractorConfig()
    pipeline.extract(work / "listings.jsonl", work / "facts.jsonl", config=config, workers=2)
    pipeline.fuse(work / "listings.jsonl", work / "facts.jsonl", work / "fused.jsonl", complete=False)
    pipeline.load(work / "graph.lbug", work / "listings.jsonl", work / "fused.jsonl")
    with open_store(work / "graph.lbug", read_only=True) as store:
        recommender = Recommender.from_store(store)
        recommender.title_floor = title_floor
        chosen = SubstituteModel.load(model) if model else None
        found = inventory(store, recommender, limit=stock_outs, model=chosen)
        write_substitutes(found, recommender, out)
    return {"titles": str(titles), "extractor": str(tagger) if tagger else "rules", "stock_seed": seed, "title_floor": title_floor,
            "substitute_model": {"path": str(model), "threshold": chosen.threshold, "trained": chosen.record} if chosen else None,
            "listings": len(lines), "products": found.products, "out_of_stock": found.out_of_stock,
            "stock_outs_written": len(found.stock_outs),
            "with_substitutes": sum(1 for s in found.stock_outs if s.substitutes),
            "substitutes": sum(len(s.substitutes) for s in found.stock_outs), "written_to": str(out)}


def judged(path: Path, written: Path | None = None) -> dict:
    """Precision of hand-checked substitutes, and how many of an accessory's fit the same device;
    the judged lines must be those this run ``written`` (where it wrote some)."""
    rows = list(read_jsonl(path))
    if written is not None:
        pairs = [[(row["product"], [s["id"] for s in row["substitutes"]]) for _, row in lines] for lines in (rows, read_jsonl(written))]
        if pairs[0] != pairs[1]:
            sys.exit(f"{path}: judges other stock-outs or substitutes than this run wrote to {written}")
    checked = fitting = accessory_substitutes = right = products = served = 0
    for number, row in rows:
        products += 1
        served += bool(row.get("substitutes"))
        for substitute in row.get("substitutes", []):
            if not isinstance(substitute.get("ok"), bool):
                sys.exit(f"{path}:{number}: substitute {substitute.get('id')!r} has no ok: true/false")
            checked += 1
            right += substitute["ok"]
            if row.get("accessory"):
                accessory_substitutes += 1
                fitting += bool(substitute.get("fits"))
    return {"judged_file": str(path), "stock_outs": products, "stock_outs_served": served, "substitutes": checked, "right": right,
            "precision": round(right / checked, 4) if checked else None,
            "accessory_substitutes": accessory_substitutes, "fitting_the_same_device": fitting,
            "target_precision": 0.9, "met": bool(checked) and right / checked >= 0.9 and fitting == accessory_substitutes}


def second_judge(path: Path, first: Path) -> dict:
    """The substitutes of the ``first`` judged file as another judge's lines at ``path`` call them:
    precision, agreement with the first judge, Cohen's kappa, and the share of the first judge's
    accepted pairs the second accepts."""
    calls = {}
    for number, row in read_jsonl(path):
        for substitute in row.get("substitutes", []):
            if not isinstance(substitute.get("ok"), bool) or "product" not in row or "id" not in substitute:
                sys.exit(f"{path}:{number}: substitute {substitute.get('id')!r} has no product, id or ok: true/false")
            pair = row["product"], substitute["id"]
            if calls.setdefault(pair, substitute["ok"]) != substitute["ok"]:
                sys.exit(f"{path}:{number}: {pair} is called both right and wrong")
    pairs = [((row["product"], s["id"]), s["ok"]) for _, row in read_jsonl(first) for s in row.get("substitutes", [])]
    if missing := [pair for pair, _ in pairs if pair not in calls]:
        sys.exit(f"{path}: the second judge has no call on {len(missing)} of {first}'s substitutes, the first {missing[0]}")
    if not pairs:
        return {"second_judge_file": str(path), "substitutes": 0}
    ours = [ok for _, ok in pairs]
    theirs = [calls[pair] for pair, _ in pairs]
    agree = sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(pairs)
    p_ours, p_theirs = sum(ours) / len(pairs), sum(theirs) / len(pairs)
    chance = p_ours * p_theirs + (1 - p_ours) * (1 - p_theirs)
    accepted = [b for a, b in zip(ours, theirs, strict=True) if a]
    return {"second_judge_file": str(path), "substitutes": len(pairs), "right": sum(theirs), "precision": round(p_theirs, 4),
            "agreement": round(agree, 4), "cohen_kappa": round((agree - chance) / (1 - chance), 4) if chance < 1 else None,
            "right_by_both": sum(a and b for a, b in zip(ours, theirs, strict=True)),
            "first_judge_accepted_kept_by_second": round(sum(accepted) / len(accepted), 4) if accepted else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(".skugraph/bench-inventory"))
    parser.add_argument("--speed", action=argparse.BooleanOptionalAction, default=True, help="time it on the generated graph")
    parser.add_argument("--titles", type=Path, help="real titles, one a line (the data set's corpus/jd-titles.txt)")
    parser.add_argument("--test", type=Path, help="another title file, run as --titles is")
    parser.add_argument("--limit", type=int, default=20_000, help="titles read")
    parser.add_argument("--stock-outs", type=int, default=120, help="stock-outs written with their substitutes")
    parser.add_argument("--substitutes-out", type=Path, help="where the stock-outs and substitutes go (outside the repo)")
    parser.add_argument("--tagger", type=Path, help="extract the real titles with this tagger (default: the rules)")
    parser.add_argument("--seed", type=int, default=0, help="draws the generated stock, and so the stock-outs (the rules' settings were chosen on seed 0)")
    parser.add_argument("--title-floor", type=float, default=TITLE_FLOOR, help="how alike a substitute's title must be")
    parser.add_argument("--substitute-model", type=Path, help="keep the substitutes this model (`skugraph train substitutes`) accepts")
    parser.add_argument("--judged", type=Path, help="the substitutes file hand-checked: precision and fit")
    parser.add_argument("--second-judge", type=Path, help="the same substitutes checked by another judge: agreement")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "inventory.json")
    args = parser.parse_args()
    if args.second_judge and not args.judged:
        parser.error("--second-judge needs --judged: the first judge's file")
    record: dict = {"command": " ".join(["python", *sys.argv])}
    if args.speed:
        record["speed"] = speed(generated_graph(args.products, args.cache / f"products-{args.products}"), args.repeat)
        print(json.dumps(record["speed"], ensure_ascii=False), file=sys.stderr)
    titles = args.test or args.titles
    if titles:
        if args.substitutes_out is None:
            sys.exit("--titles needs --substitutes-out: where to write the substitutes to check")
        with tempfile.TemporaryDirectory(prefix="skugraph-inventory-") as work:
            record["real_titles"] = real_titles(titles, args.limit, args.stock_outs, args.substitutes_out, Path(work), args.tagger,
                                                args.seed, args.title_floor, args.substitute_model)
        print(json.dumps(record["real_titles"], ensure_ascii=False), file=sys.stderr)
    if args.judged:
        record["substitutes_checked"] = judged(args.judged, args.substitutes_out if titles else None)
        print(json.dumps(record["substitutes_checked"], ensure_ascii=False), file=sys.stderr)
        if args.second_judge:
            record["second_judge"] = second_judge(args.second_judge, args.judged)
            print(json.dumps(record["second_judge"], ensure_ascii=False), file=sys.stderr)
    save_record(args.out, record)


if __name__ == "__main__":
    main()
