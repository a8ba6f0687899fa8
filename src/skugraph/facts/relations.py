"""Relations between a listing's head product and its other mentions, read by an encoder
with entity markers.

For a text with a head product word ``H`` and another mention ``X`` the classifier says
what ``X`` is to ``H``: its brand (``brand_of``), something it fits (``fits``: a
compatible brand, model or product), an attribute of it (``attribute_of``), a part or
accessory that comes with it (``part_of``), or nothing (``none``: ``X`` describes another
product named in the text, such as a gift). The same word can be either: 华为 is the brand
in 华为 nova 12 手机 and what a case fits in 适用华为手机壳.

Training data comes by distant supervision from labelled titles: the ontology says what
each mention label means, and a mention that sits with another product (送 钢化膜 黑色)
is ``none`` to the head.

Model: the encoder (our pretrained one, or any BERT directory) reads the text with
``[H] … [/H]`` and ``[X] … [/X]`` around the two mentions and the tagger's type of ``X``
after it (a typed marker, as in Zhou & Chen 2021); the hidden states at the two
opening markers, concatenated, go through a linear layer (the "entity start" pooling of
Baldini Soares et al. 2019). Saved as a Hugging Face encoder directory plus
``relations.safetensors`` and ``relations.json``.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from skugraph import __version__
from skugraph.corpus.ner import LabelledText, Span
from skugraph.facts.build import head_product
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.records import Mention
from skugraph.tagging.evaluate import Score
from skugraph.tagging.lexicon import default_lexicons
from skugraph.lm.finetune import DevScore, FineTuneConfig, cpu_autocast, fine_tune, load_encoder, seed_everything

RELATIONS = ("none", "brand_of", "fits", "attribute_of", "part_of")
MARKERS = ("[H]", "[/H]", "[X]", "[/X]")
METADATA = "relations.json"
#: words that start a part of a title about another product (a gift, an extra); 送给 is "for"
_OTHER_PRODUCT_CUE = re.compile(r"(?:送|赠)(?!给)|加购|搭配|另购|\+")


@dataclass(frozen=True, slots=True)
class RelationExample:
    text: str
    head: tuple[int, int]
    other: tuple[int, int]
    label: str = "none"
    source: str = ""  # where it came from (file:title number)
    other_type: str = ""  # what the tagger called the mention (its role or kind), read after the text

    def marked(self) -> str:
        """The text with ``[H]``/``[/H]`` and ``[X]``/``[/X]`` around the two mentions, and the
        mention's type after it (``… ｜ brand``)."""
        cuts = sorted([(self.head[0], "[H]"), (self.head[1], "[/H]"), (self.other[0], "[X]"), (self.other[1], "[/X]")],
                      key=lambda cut: (cut[0], cut[1].startswith("[/") is False))
        out, at = [], 0
        for position, marker in cuts:
            out += [self.text[at:position], marker]
            at = position
        return "".join(out + [self.text[at:]]) + (f" ｜ {self.other_type}" if self.other_type else "")


def relation_for(meaning: str) -> str:
    """The relation a mention of this role or kind has to the product it describes."""
    if meaning == "brand":
        return "brand_of"
    if meaning.startswith("compatible_"):
        return "fits"
    if meaning == "component":
        return "part_of"
    if meaning in ("product", "ignore"):
        return "none"
    return "attribute_of"


def candidates(text: str, spans: Sequence[Span], ontology: Ontology | None = None, source: str = "") -> list[RelationExample]:
    """(head product, mention) pairs of one labelled text, each with its distant label: the
    relation its role gives, or ``none`` when the mention sits in a part of the text about
    another product (after 送/赠/+, with a product word of its own that is not the head's)."""
    ontology = ontology or load_ontology()
    mentions = [Mention("", "text", s.start, s.end, text[s.start : s.end], s.label) for s in spans]
    meanings = [ontology.meaning(m.label) for m in mentions]
    head = head_product(mentions, meanings, lambda _: text, default_lexicons()["accessory"])  # as the fact builder finds it
    if head is None:
        return []
    head_span = (mentions[head].start, mentions[head].end)
    head_tail = mentions[head].text[-1:]
    examples = []
    for mention, meaning in zip(mentions, meanings, strict=True):
        if meaning == "product":
            continue
        label = relation_for(meaning)
        if label != "none" and _about_another_product(text, mention, mentions, meanings, head_span, head_tail):
            label = "none"
        examples.append(RelationExample(text, head_span, (mention.start, mention.end), label, source, meaning))
    return examples


def _about_another_product(text: str, mention: Mention, mentions: list[Mention], meanings: list[str],
                           head: tuple[int, int], head_tail: str) -> bool:
    """Whether a mention after a cue such as 送 belongs to the product word that follows the cue."""
    cue = None
    for match in _OTHER_PRODUCT_CUE.finditer(text, head[1], mention.start):
        cue = match
    if cue is None:
        return False
    products = [m for m, r in zip(mentions, meanings, strict=True) if r == "product" and m.start >= cue.end()]
    if not products:
        return False
    # the product word the mention sits nearest to (the one after it on a tie: 黑色手机壳)
    nearest = min(products, key=lambda m: (max(m.start - mention.end, mention.start - m.end), m.start < mention.start))
    return nearest.text[-1:] != head_tail


def examples_from(texts: Sequence[LabelledText], ontology: Ontology | None = None) -> list[RelationExample]:
    return [e for number, t in enumerate(texts) for e in candidates(t.text, t.spans, ontology, f"{t.id or number}")]


# -- the model ---------------------------------------------------------------------------------

@dataclass
class RelationConfig:
    labels: tuple[str, ...] = RELATIONS
    max_length: int = 160
    dropout: float = 0.1


class RelationModel(torch.nn.Module):
    def __init__(self, encoder, config: RelationConfig):
        super().__init__()
        self.encoder = encoder
        self.config = config
        hidden = encoder.config.hidden_size
        self.dropout = torch.nn.Dropout(config.dropout)
        self.classifier = torch.nn.Linear(2 * hidden, len(config.labels))

    def forward(self, input_ids, attention_mask, head_index, other_index):
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        rows = torch.arange(states.shape[0], device=states.device)
        pooled = torch.cat([states[rows, head_index], states[rows, other_index]], dim=-1)
        return self.classifier(self.dropout(pooled.float()))


class RelationClassifier:
    """Load a relation model directory and classify (head, mention) pairs."""

    def __init__(self, model: RelationModel, tokenizer, record: dict | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.record = record or {}
        self.labels = model.config.labels

    @classmethod
    def load(cls, path: str | Path) -> RelationClassifier:
        path = Path(path)
        if not (path / METADATA).is_file():
            raise FileNotFoundError(f"{path}: not a relation model directory (no {METADATA})")
        meta = json.loads((path / METADATA).read_text(encoding="utf-8"))
        encoder, tokenizer = load_encoder(str(path))
        model = RelationModel(encoder, RelationConfig(tuple(meta["labels"]), meta["max_length"], meta["dropout"]))
        model.classifier.load_state_dict(load_file(str(path / "relations.safetensors")))
        return cls(model, tokenizer, meta)

    def save(self, out: str | Path, record: dict) -> Path:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.model.encoder.save_pretrained(out, safe_serialization=True)
        self.tokenizer.save_pretrained(out)
        save_file({k: v.contiguous() for k, v in self.model.classifier.state_dict().items()}, str(out / "relations.safetensors"))
        meta = {**asdict(self.model.config), "labels": list(self.model.config.labels), "skugraph": __version__, **record}
        (out / METADATA).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        self.record = meta
        return out

    def probabilities(self, examples: Sequence[RelationExample], batch_size: int = 64) -> np.ndarray:
        out = []
        with torch.inference_mode(), cpu_autocast():
            for start in range(0, len(examples), batch_size):
                batch = _encode(self.tokenizer, examples[start : start + batch_size], self.model.config.max_length)
                logits = self.model(**batch)
                out.append(torch.softmax(logits.float(), dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)))

    def predict(self, examples: Sequence[RelationExample]) -> list[tuple[str, float]]:
        probs = self.probabilities(examples)
        return [(self.labels[i], float(row[i])) for row, i in zip(probs, probs.argmax(axis=1), strict=True)]



def _encode(tokenizer, examples: Sequence[RelationExample], max_length: int) -> dict[str, torch.Tensor]:
    """Token ids of the marked texts and where the two opening markers are. A text too long
    for ``max_length`` is cut around the two mentions, never through them."""
    head_id, other_id = tokenizer.convert_tokens_to_ids(["[H]", "[X]"])
    rows, heads, others = [], [], []
    for example in examples:
        ids = tokenizer(example.marked(), add_special_tokens=False)["input_ids"]
        h, o = ids.index(head_id), ids.index(other_id)
        room = max_length - 2
        if len(ids) > room:
            first, last = min(h, o), max(ids.index(tokenizer.convert_tokens_to_ids("[/H]")), ids.index(tokenizer.convert_tokens_to_ids("[/X]")))
            start = max(0, min(first - (room - (last - first + 1)) // 2, len(ids) - room))
            ids = ids[start : start + room]
            h, o = h - start, o - start
        rows.append([tokenizer.cls_token_id, *ids, tokenizer.sep_token_id])
        heads.append(h + 1)
        others.append(o + 1)
    width = max(map(len, rows))
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "head_index": torch.tensor(heads), "other_index": torch.tensor(others)}


@dataclass(kw_only=True)
class TrainRelationsConfig(FineTuneConfig):
    max_length: int = 160
    keep: dict[str, float] = field(default_factory=dict)  # share of a relation's examples to train on ({"attribute_of": 0.3})


def train_relations(train: Sequence[RelationExample], dev: Sequence[RelationExample], config: TrainRelationsConfig,
                    progress: Callable[[dict], None] | None = None) -> RelationClassifier:
    """Fine-tune the encoder with entity markers on ``train``; keep the epoch with the best dev
    micro F1 over the relations other than ``none``; save to ``config.out``."""
    began = time.perf_counter()
    seed_everything(config.seed)
    encoder, tokenizer = load_encoder(config.base_model, sorted({e.text for e in train}), config.max_length)
    tokenizer.add_special_tokens({"additional_special_tokens": list(MARKERS)})
    encoder.resize_token_embeddings(len(tokenizer))
    model = RelationModel(encoder, RelationConfig(RELATIONS, config.max_length, config.dropout))
    classifier = RelationClassifier(model, tokenizer)
    kept = [e for e in train if random.random() < config.keep.get(e.label, 1.0)]
    label_index = {label: i for i, label in enumerate(RELATIONS)}

    def epoch_batches(epoch: int) -> list[list[RelationExample]]:
        order = sorted(kept, key=lambda e: (len(e.text) + random.random() * 8))  # similar lengths together
        batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        random.shuffle(batches)
        return batches

    def batch_loss(forward: Callable[..., torch.Tensor], batch: list[RelationExample]) -> torch.Tensor:
        logits = forward(**_encode(tokenizer, batch, config.max_length))
        return torch.nn.functional.cross_entropy(logits.float(), torch.tensor([label_index[e.label] for e in batch]))

    def dev_score() -> DevScore:
        scores = relation_scores(dev, [label for label, _ in classifier.predict(dev)])
        return DevScore(scores["micro"]["f1"], detail=scores)

    rates = {"encoder.": (config.learning_rate, config.weight_decay), "": (config.head_learning_rate, 0.0)}
    run = fine_tune(model, rates, epoch_batches, batch_loss, config, steps_per_epoch=math.ceil(len(kept) / config.batch_size),
                    dev=dev_score if dev else None, started=began, progress=progress)
    classifier.save(config.out, {"base_model": config.base_model, "train_examples": len(kept), "history": run.history,
                                 "dev": run.best.detail if run.best else None,
                                 "train_seconds": round(time.perf_counter() - began, 1)})
    return classifier


def relation_scores(gold: Sequence[RelationExample], predicted: Sequence[str]) -> dict:
    """Precision, recall and F1 per relation and micro over the relations other than ``none``."""
    per, tp_all, fp_all, fn_all = {}, 0, 0, 0
    for relation in RELATIONS[1:]:
        tp = sum(g.label == p == relation for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == relation != g.label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g.label == relation != p for g, p in zip(gold, predicted, strict=True))
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        per[relation] = Score.from_counts(tp, tp + fp, tp + fn).to_dict()
    accuracy = sum(g.label == p for g, p in zip(gold, predicted, strict=True)) / len(gold) if gold else 0.0
    return {"micro": Score.from_counts(tp_all, tp_all + fp_all, tp_all + fn_all).to_dict(), "per_relation": per,
            "accuracy": round(accuracy, 4), "pairs": len(gold)}


def training_examples(train: Path, dev: Path | None = None, format: str | None = None,
                      ontology: Ontology | None = None) -> tuple[list[RelationExample], list[RelationExample]]:
    """(head product, mention) pairs labelled by distant supervision from labelled titles, to
    train on and (from ``dev``) to choose the epoch with; titles without a product-word mention
    give none, and a ``train`` file that gives none is a ValueError."""
    from skugraph.corpus.ner import read_labelled

    pairs = examples_from(read_labelled(train, format), ontology)
    if not pairs:
        raise ValueError(f"{train}: no (head product, mention) pairs: the titles need product-word mentions")
    return pairs, examples_from(read_labelled(dev, format), ontology) if dev else []
