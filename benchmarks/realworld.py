"""Real-data smoke benchmark: the whole pipeline on real titles, counting the damage it does.

    python benchmarks/realworld.py --titles ../shared/data/corpus/jd-titles.txt [--limit N]
        [--tagger DIR] [--test PATH] [--out benchmarks/results/realworld.json]

The titles (one a line) are written as a CSV of listings (id ``jd-<line>``, quoted as ``csv``
writes them: real titles hold commas and quotes), then ingested (personal data masked),
extracted with the rules (and with ``--tagger DIR``, a tagger trained with ``skugraph train
tagger``), fused and loaded into a graph, each extractor into its own. ``--test PATH`` runs
another title file the same way. What it counts, each a kind of damage that should be 0 or
close to it, with the first examples of each so a regression can be read at once:

- ``rows_lost``: input rows neither ingested nor rejected (silent loss);
- ``masked_titles`` / ``masked_spans``: titles touched by personal-data masking (product
  titles carry almost none: every one is likely a product word lost);
- ``brand_clusters_joining_distinct_brands``: Brand nodes whose names the shipped gazetteer
  knows as two or more different brands (苹果 with 小米);
- ``merges``, ``merges_with_conflicting_models`` and ``..._measures``: products offered by several
  listings, and those whose listings' titles name different model codes (成就3671 with 灵越3470)
  or different measures in one unit (a 2mm and a 3mm mouse pad);
- ``unit_family_changes``: values whose unit family in the graph (storage) differs from the
  family of the unit the title wrote (``1m``, a length);
- ``brand_is_compatible_brand``: products whose brand is also a brand they fit (the phone
  case of a third-party shop given the phone's brand).

Then KG completion (``skugraph complete``, the values products lack) runs on the fused facts,
apart from the graph counted above: ``inferred`` is how many values it proposes, with their
mean confidence, per relation, and a seeded sample of 40 beside their titles to be read (no
gold says whether a value the title does not state is right).

The checks are written here, apart from the code they check: a model code is a Latin-and-digit
word of the title less measures, a unit family is read from a small table of unambiguous unit
spellings. Each figure is printed beside the one in the committed result file, when it has it.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from skugraph import pipeline
from skugraph.corpus.ingest import ingest
from skugraph.corpus.normalize import fold
from skugraph.extract import ExtractorConfig
from skugraph.graph.store import open_store
from skugraph.tagging.lexicon import default_gazetteer
from record import save_record

EXAMPLES = 10
_MODEL_CODE = re.compile(r"(?<![a-z0-9])(?=[a-z\-]*\d)(?=\d*[a-z])[a-z0-9][a-z0-9\-]{2,}(?![a-z0-9])")
_MEASURE = re.compile(r"\d+(?:\.\d+)?(?:mm|cm|m|km|g|gb|kg|t|tb|mb|ml|l|w|kw|v|a|mah|hz|khz|p|k|x|h|ch|pcs|pc|ps|nm|gen)")
#: unambiguous unit spellings by family, for reading a surface's family (longest first)
UNIT_FAMILIES = {
    "length": ("毫米", "厘米", "公里", "米", "mm", "cm", "km", "m"),
    "storage": ("gb", "tb", "mb", "kb"),
    "volume": ("毫升", "升", "ml", "l"),
    "weight": ("千克", "公斤", "克", "斤", "kg"),
    "power": ("千瓦", "瓦", "kw", "w"),
    "charge": ("毫安时", "毫安", "mah"),
    "screen": ("英寸", "寸", "inch"),
}
_UNITS = "|".join(sorted({unit for units in UNIT_FAMILIES.values() for unit in units}, key=len, reverse=True))
_UNIT = re.compile(rf"\d\s*({_UNITS})(?![a-z])")
_MEASURE_VALUE = re.compile(rf"(?<![0-9.])(\d+(?:\.\d+)?)\s*({_UNITS})(?![a-z])")
_FAMILY_OF_UNIT = {unit: family for family, units in UNIT_FAMILIES.items() for unit in units}


def model_codes(title: str) -> set[str]:
    """Latin-and-digit words of a title that can name a model (3671, i78700, x9077: hyphens
    dropped), less measures."""
    text = fold(title)
    codes = {code.replace("-", "") for code in _MODEL_CODE.findall(text)}
    codes |= set(re.findall(r"(?<![0-9a-z.])\d{3,}(?![0-9a-z.])", text))
    return {code for code in codes if not _MEASURE.fullmatch(code) and not re.fullmatch(r"(?:19|20)\d\d", code)}


def codes_conflict(first: str, second: str) -> bool:
    """Whether two titles name models and no code of either is written in the other (spaces and
    hyphens aside: 16K A5 is 16KA5, S1503-A is S1503A)."""
    ours, theirs = model_codes(first), model_codes(second)
    compact = [re.sub(r"[\s\-]", "", fold(t)) for t in (first, second)]
    return bool(ours and theirs) and not any(c in compact[1] for c in ours) and not any(c in compact[0] for c in theirs)


def measures(title: str) -> dict[str, set[str]]:
    """The measures a title writes, by unit: {"mm": {"3", "800"}, "gb": {"256"}}."""
    found: dict[str, set[str]] = defaultdict(set)
    for match in _MEASURE_VALUE.finditer(fold(title)):
        found[match.group(2)].add(match.group(1))
    return found


def surface_family(text: str) -> str | None:
    """The unit family a surface such as ``1m`` or ``256GB`` writes, when its unit says it plainly."""
    match = _UNIT.search(fold(text))
    return _FAMILY_OF_UNIT[match.group(1)] if match else None


def write_listings_csv(titles: list[tuple[int, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title"])
        writer.writerows((f"jd-{number}", title) for number, title in titles)


def _rows(store, cypher: str) -> list[list]:
    return store.query(cypher).rows


def damage(db: Path, listings: dict[str, str]) -> dict:
    """The damage counts of one graph (see the module doc), with examples."""
    gazetteer = default_gazetteer()
    found: dict[str, list] = defaultdict(list)
    with open_store(db, read_only=True) as store:
        for key, name, aliases in _rows(store, "MATCH (b:Brand) RETURN b.id, b.name, b.aliases"):
            known = {gazetteer.by_surface[fold(n)].key for n in [name, *(aliases or [])] if fold(n) in gazetteer.by_surface}
            if len(known) > 1:
                found["brand_clusters_joining_distinct_brands"].append({"brand": key, "names": [name, *(aliases or [])],
                                                                        "known_as": sorted(known)})
        offers: dict[str, list[str]] = defaultdict(list)
        for listing, product in _rows(store, "MATCH (l:Listing)-[:OFFER_OF]->(p:Product) RETURN l.id, p.id"):
            offers[product].append(listing)
        for product, members in sorted(offers.items()):
            if len(members) < 2:
                continue
            titles = [listings[m] for m in sorted(members)]
            found["merges"].append({"product": product, "titles": titles})
            if any(codes_conflict(a, b) for i, a in enumerate(titles) for b in titles[i + 1:]):
                found["merges_with_conflicting_models"].append({"product": product, "titles": titles,
                                                                "codes": [sorted(model_codes(t)) for t in titles]})
            sizes = [measures(t) for t in titles]
            clashes = sorted({unit for i, a in enumerate(sizes) for b in sizes[i + 1:] for unit in a.keys() & b.keys()
                              if not a[unit] & b[unit]})
            if clashes:
                found["merges_with_conflicting_measures"].append({"product": product, "titles": titles, "units": clashes})
        for product, kind, unit, canonical, provenance in _rows(
                store, "MATCH (p:Product)-[r:HAS_VALUE]->(v:Value) WHERE v.unit <> '' "
                       "RETURN p.id, v.kind, v.unit, v.canonical, r.provenance"):
            for where in json.loads(provenance or "[]"):
                surface = listings.get(where.get("listing_id"), "")[where.get("start", 0):where.get("end", 0)]
                family, stored = surface_family(surface), surface_family(f"1{unit}")
                if family and stored and family != stored:
                    found["unit_family_changes"].append({"product": product, "kind": kind, "surface": surface,
                                                         "canonical": canonical})
        for product, brand, title in _rows(
                store, "MATCH (p:Product)-[:HAS_BRAND]->(b:Brand)<-[:COMPATIBLE_WITH]-(p) RETURN p.id, b.name, p.title"):
            found["brand_is_compatible_brand"].append({"product": product, "brand": brand, "title": title})
        counts = {label: _rows(store, f"MATCH (n:{label}) RETURN count(n)")[0][0] for label in ("Listing", "Product", "Brand")}
    names = ("merges", "merges_with_conflicting_models", "merges_with_conflicting_measures", "brand_clusters_joining_distinct_brands",
             "unit_family_changes", "brand_is_compatible_brand")
    return {"graph": counts, **{name: len(found[name]) for name in names},
            "examples": {name: found[name][:EXAMPLES] for name in names}}


def run(titles_file: Path, limit: int | None, tagger: Path | None, workdir: Path) -> dict:
    """Ingest, extract, fuse and load the titles of one file with each extractor; the damage counts."""
    lines = titles_file.read_text(encoding="utf-8").splitlines()
    titles = [(number, line) for number, line in enumerate(lines) if line.strip()][:limit]
    source = workdir / "listings.csv"
    write_listings_csv(titles, source)
    ingested = workdir / "listings.jsonl"
    began = time.perf_counter()
    report = ingest([source], ingested, workdir / "rejects.jsonl")
    kept = {}
    masked: list[dict] = []
    for line in ingested.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        kept[record["id"]] = record["title"]
        masked += [{"listing": record["id"], "type": r["type"], "chars": r["end"] - r["start"]}
                   for r in record.get("redactions", []) if r["field"] == "title"]
    result = {
        "titles": len(titles),
        "ingested": report.ingested,
        "rejected": report.rejected,
        "rows_lost": len(titles) - report.ingested - report.rejected,
        "masked_titles": len({m["listing"] for m in masked}),
        "masked_titles_share": round(len({m["listing"] for m in masked}) / max(1, len(titles)), 4),
        "masked_spans": len(masked),
        "masked_examples": masked[:EXAMPLES],
        "ingest_seconds": round(time.perf_counter() - began, 1),
        "extractors": {},
    }
    originals = {f"jd-{number}": title for number, title in titles}
    extractors = {"rules": None} | ({"tagger": tagger} if tagger else {})
    for name, model in extractors.items():
        began = time.perf_counter()
        out = workdir / name
        out.mkdir(exist_ok=True)
        config = ExtractorConfig("tagger", model, ("title",)) if model else ExtractorConfig()
        extracted = pipeline.extract(ingested, out / "facts.jsonl", config=config)
        fused = pipeline.fuse(ingested, out / "facts.jsonl", out / "facts.fused.jsonl", complete=False)
        pipeline.load(out / "graph.lbug", ingested, out / "facts.fused.jsonl")
        result["extractors"][name] = {"facts": extracted.facts, "products": fused.products,
                                      **damage(out / "graph.lbug", originals),
                                      "inferred": inferred(out / "facts.fused.jsonl", out / "facts.inferred.jsonl", originals),
                                      "seconds": round(time.perf_counter() - began, 1)}
    return result


def inferred(fused: Path, out: Path, titles: dict[str, str], sample: int = 40) -> dict:
    """KG completion on the fused facts: how many values it proposes, their confidence, and a
    seeded sample beside the titles of their listings."""
    proposals = pipeline.complete(fused, out).facts
    by_relation: dict[str, int] = defaultdict(int)
    for fact in proposals:
        by_relation[fact.predicate] += 1
    chosen = random.Random(0).sample(proposals, min(sample, len(proposals)))
    return {"facts": len(proposals), "by_relation": dict(sorted(by_relation.items())),
            "mean_confidence": round(sum(f.confidence for f in proposals) / len(proposals), 3) if proposals else None,
            "examples": [{"title": titles.get(f.subject.key, f.subject.name), "relation": f.predicate, "value": f.object.name,
                          "confidence": f.confidence} for f in chosen]}


_HEADLINE = ("rows_lost", "masked_titles", "masked_spans")
_PER_EXTRACTOR = ("merges", "merges_with_conflicting_models", "merges_with_conflicting_measures",
                  "brand_clusters_joining_distinct_brands",
                  "unit_family_changes", "brand_is_compatible_brand")


def print_table(name: str, result: dict, previous: dict | None) -> None:
    def was(*path: str) -> str:
        value = previous
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return "" if value is None else f"(committed: {value})"

    print(f"\n{name}: {result['titles']} titles, {result['ingested']} ingested, {result['rejected']} rejected")
    for key in _HEADLINE:
        print(f"  {key:42s} {result[key]:>6} {was(key)}")
    for extractor, figures in result["extractors"].items():
        print(f"  {extractor}: {figures['facts']} facts, {figures['graph']} ({figures['seconds']} s)")
        for key in _PER_EXTRACTOR:
            print(f"    {key:40s} {figures[key]:>6} {was('extractors', extractor, key)}")
        found = figures["inferred"]
        print(f"    {'inferred (KG completion)':40s} {found['facts']:>6} {was('extractors', extractor, 'inferred', 'facts')}"
              f"  mean confidence {found['mean_confidence']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titles", type=Path, required=True, help="a title a line (../shared/data/corpus/jd-titles.txt)")
    parser.add_argument("--test", type=Path, help="another title file, run the same way")
    parser.add_argument("--tagger", type=Path, help="a tagger directory: also extract with it")
    parser.add_argument("--limit", type=int, help="the first N titles only")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "realworld.json")
    args = parser.parse_args()
    for path in (args.titles, args.test, args.tagger):
        if path is not None and not path.exists():
            sys.exit(f"{path}: no such file or directory")
    previous = json.loads(args.out.read_text("utf-8")) if args.out.is_file() else {}
    record = {"command": "python " + " ".join(sys.argv), "tagger": str(args.tagger) if args.tagger else None}
    began = time.perf_counter()
    for name, path in (("titles", args.titles), ("test", args.test)):
        if path is None:
            continue
        with tempfile.TemporaryDirectory(prefix="skugraph-realworld-") as workdir:
            record[name] = {"file": str(path), **run(path, args.limit, args.tagger, Path(workdir))}
        print_table(name, record[name], previous.get(name))
    record["wall_seconds"] = round(time.perf_counter() - began, 1)
    save_record(args.out, record)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
