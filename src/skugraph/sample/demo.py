"""The demo's content: the models it trains on the sample catalogue, the questions it asks of
the graph it builds, and the products it shows as cards."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skugraph.corpus.split import hold_out
from skugraph.sample.generate import CATALOGUE, LABELS, sample_opinions, sample_sentiments

#: ``progress(stage, total)`` returns a callback told of each item done (a count) or of each
#: training record ({step, total_steps, loss, eta_seconds …})
StageProgress = Callable[[str, int | None], Callable[[int | dict], None]]

#: Example questions the demo asks of the graph: (question, Cypher, parameters).
EXAMPLE_QUERIES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "Which brands sell water heaters (热水器)?",
        "MATCH (p:Product)-[:HAS_VALUE]->(v:Value {kind: 'product_type'}), (p)-[:HAS_BRAND]->(b:Brand) "
        "WHERE v.value CONTAINS $word "
        "RETURN b.name AS brand, count(DISTINCT p) AS products ORDER BY products DESC, brand LIMIT 5",
        {"word": "热水器"},
    ),
    (
        "Which accessories fit Huawei (华为) phones?",
        "MATCH (p:Product)-[r:COMPATIBLE_WITH]->(b:Brand {id: $brand}) "
        "RETURN p.title AS product, round(r.confidence, 2) AS confidence ORDER BY confidence DESC, product LIMIT 5",
        {"brand": "huawei"},
    ),
    (
        "What colours do phones (手机) come in?",
        "MATCH (p:Product)-[:IN_CATEGORY]->(c:Category), (p)-[:HAS_VALUE]->(v:Value {kind: 'colour'}) "
        "WHERE c.name ENDS WITH $category "
        "RETURN v.value AS colour, count(DISTINCT p) AS products ORDER BY products DESC, colour LIMIT 5",
        {"category": "> 手机"},
    ),
    (
        "What do reviews of phones (手机) praise and criticise? (aspects, with review models)",
        "MATCH (r:Review)-[m:MENTIONS]->(a:Aspect)-[:OF]->(p:Product)-[:IN_CATEGORY]->(c:Category) "
        "WHERE c.name ENDS WITH $category "
        "RETURN a.name AS aspect, count(*) AS reviews, "
        "round(avg(CASE WHEN m.polarity = 'positive' THEN 1.0 ELSE 0.0 END), 2) AS share_positive "
        "ORDER BY reviews DESC, aspect LIMIT 6",
        {"category": "> 手机"},
    ),
]


#: products worth showing: the first with review aspects, the first with a compatible-with link
#: (each the first with more than one listing, where there is one)
SHOWCASE = (
    "MATCH (p:Product)<-[:OF]-(:Aspect) MATCH (l:Listing)-[:OFFER_OF]->(p) "
    "RETURN p.id AS id, count(DISTINCT l) AS n ORDER BY n > 1 DESC, id LIMIT 1",
    "MATCH (p:Product)-[:COMPATIBLE_WITH]->(:Brand) MATCH (l:Listing)-[:OFFER_OF]->(p) "
    "RETURN p.id AS id, count(DISTINCT l) AS n ORDER BY n > 1 DESC, id LIMIT 1",
)


@dataclass
class DemoModels:
    """The demo's trained models, with what their training reported."""

    encoder: Path
    tagger: Path
    opinions: Path
    sentiment: Path
    pretrain: dict  # the encoder's skugraph.json
    training: dict  # the tagger's skugraph.json
    reused: bool


def train_demo_models(workdir: Path, minutes: float = 1.5, retrain: bool = False,
                      progress: StageProgress | None = None) -> DemoModels:
    """The whole model chain on the sample catalogue: pretrain a tiny encoder on its text
    (titles, descriptions, reviews) for ``minutes``, then fine-tune a tagger on the labelled
    titles (every fifth product held out as dev). Models already in ``workdir`` are reused
    unless ``retrain``."""
    from skugraph.facts.opinions import train_opinion_extractor
    from skugraph.facts.sentiment import train_sentiment
    from skugraph.lm.pretrain import PretrainConfig, pretrain
    from skugraph.tagging.train import TrainTaggerConfig, train_tagger

    models = workdir / "models"
    encoder, tagger, opinions, sentiment = models / "encoder", models / "tagger", models / "opinions", models / "sentiment"
    done = [encoder / "skugraph.json", tagger / "skugraph.json", opinions / "opinions.json", sentiment / "classifier.json"]
    if not retrain and all(path.is_file() for path in done):
        return DemoModels(encoder, tagger, opinions, sentiment, _json(encoder / "skugraph.json"), _json(tagger / "skugraph.json"), True)
    step = progress("pretrain", None) if progress else None
    pretrain(PretrainConfig(corpus=[CATALOGUE], out=encoder, base_model="scratch:tiny", time_budget_minutes=minutes,
                            batch_size=32, vocab_size=3000, min_frequency=1, heldout_every=20, checkpoint_minutes=60),
             progress=step)
    lines = [line for line in LABELS.read_text("utf-8").splitlines() if line.strip()]
    split = workdir / "models" / "labels"
    split.mkdir(parents=True, exist_ok=True)
    train_file, dev_file = split / "train.jsonl", split / "dev.jsonl"
    for path, rows in zip((train_file, dev_file), hold_out(lines, 5), strict=True):
        path.write_text("".join(f"{row}\n" for row in rows), encoding="utf-8")
    step = progress("fine-tune tagger", None) if progress else None
    train_tagger(TrainTaggerConfig(train=train_file, dev=dev_file, out=tagger, base_model=str(encoder), epochs=25,
                                   batch_size=16, learning_rate=5e-4, patience=6, ngrams=True),
                 progress=step)
    step = progress("fine-tune review models", None) if progress else None
    reviews = sample_opinions()
    train_opinion_extractor(reviews, reviews, opinions, base_model=str(encoder), epochs=60, patience=15, networks=1,
                            progress=step)  # one network: dev is the training reviews here
    train_sentiment(sample_sentiments(), sentiment)
    return DemoModels(encoder, tagger, opinions, sentiment, _json(encoder / "skugraph.json"), _json(tagger / "skugraph.json"), False)


def _json(path: Path) -> dict:
    return json.loads(path.read_text("utf-8"))
