"""Weak supervision for an attribute type no title is labelled with: labelling functions vote
spans on each title, a label model weighs their votes without gold labels, and what it decides
per character becomes training data for the tagger.

    functions = [*lexicon_functions({"colour": ["colours.txt"]}), RegexFunction(read_rules("rules.yaml"))]
    weak = weak_label(titles, functions)          # weak.texts: LabelledText; weak.reports: per function

A function votes its type on the characters of its spans and O on every other character
(characters are the tokens here, as the taggers read Chinese), but abstains on the characters a
longer span of the same type overlapping its own adds: a colour list that knows 蓝色 but not 冰蓝色
has not seen 冰, it has not judged it O. Decided spans follow the longest match: a run of one type
is split only where a function's span starts and no span of that type crosses the place (冰蓝色
stays whole beside 蓝色; 黑色白色 from a list of 黑色 and 白色 stays two). The label model is Dawid and
Skene's (1979): each function has a confusion matrix P(vote | true type), fitted with the types'
prior by EM from the functions' agreements alone, so a function that agrees with the others
earns weight and one that contradicts them loses it. EM starts from a majority vote of the
functions that know the types voted (a colour list's O on ``500ml`` is not counted against a
capacity only a pattern votes), so a type one function alone describes keeps its spans. Functions are assumed
independent given the truth: two functions built on one word list count that list twice, and
votes another function of the same type does not confirm are doubted (``majority`` keeps them).

Why not a library: snorkel's LabelModel (0.10; installs beside our pins, adding tensorboard, grpcio,
absl-py and munkres) wants the class balance, which weak supervision does not know: without it, on
simulated votes of three functions right 90%, 60% and 75% of the time (20,000 items, 90% O) it
estimated their accuracies as 0.53, 0.48 and 0.57 and decided 70% of the items right (given the true
balance: 0.87, 0.61, 0.74 and 94%), where this EM finds 0.89, 0.61, 0.76 and 96% with no balance
given. skweak (0.3.3, a span label model) brings spaCy and 17 more packages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import yaml

from skugraph.corpus.ner import LabelledText, Span
from skugraph.corpus.normalize import normalize
from skugraph.facts.ontology import Ontology, load_ontology
from skugraph.tagging.lexicon import Lexicon, read_words
from skugraph.tagging.rules import RuleExtractor

OUTSIDE = "O"  # the vote and the decision for a character in no span
ABSTAIN = -1  # a function's vote where a longer span of its own type overlapping its span goes on
LABEL_MODELS = ("dawid-skene", "majority")


class LabellingFunction(Protocol):
    """Votes spans on titles; its spans do not overlap one another."""

    name: str

    def apply(self, texts: Sequence[str]) -> list[list[Span]]: ...


def _leftmost_longest(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans, as a lexicon matches: from the left, at each place the longest span
    starting there (equally long: the one listed first), then on after its end."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, s.start - s.end)):  # stable: ties keep their order
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept


@dataclass(frozen=True)
class LexiconFunction:
    """One kind's word list, leftmost-longest over the NFKC-normalised, lower-cased title (Latin
    words only on word boundaries)."""

    kind: str
    lexicon: Lexicon

    @property
    def name(self) -> str:
        return f"lexicon:{self.kind}"

    def apply(self, texts: Sequence[str]) -> list[list[Span]]:
        spans = []
        for text in texts:
            norm = normalize(text, lowercase=True)
            spans.append([Span(*norm.to_original(start, end), self.kind) for start, end in self.lexicon.find(norm.text)])
        return spans


def lexicon_functions(files: Mapping[str, Sequence[str | Path]]) -> list[LexiconFunction]:
    """A function per kind from its word files (one word a line, ``#`` comments), as
    :func:`skugraph.tagging.lexicon.lexicon_files` reads ``--lexicon KIND=FILE``."""
    functions = []
    for kind, paths in files.items():
        words = read_words(paths)
        if not words:
            raise ValueError(f"--lexicon {kind}: no word in {', '.join(map(str, paths))}")
        functions.append(LexiconFunction(kind, Lexicon(words)))
    return functions


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    line: int  # where the rules file states it


def read_rules(path: str | Path) -> list[Rule]:
    """Regular expressions by kind from a YAML file (``.yaml``/``.yml``: a list of ``{kind, pattern}``
    mappings; single-quote patterns so backslashes stay) or JSON lines (``.jsonl``/``.json``: one
    ``{"kind": …, "pattern": …}`` a line). Patterns match the NFKC-normalised, lower-cased title.
    A bad pattern or entry is a ValueError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        entries = _yaml_entries(path)
    elif suffix in (".jsonl", ".json"):
        entries = _json_entries(path)
    else:
        raise ValueError(f"{path}: rules are YAML (.yaml, .yml) or JSON lines (.jsonl, .json), not {suffix or 'no suffix'}")
    rules = []
    for line, entry in entries:
        kind, pattern = entry.get("kind"), entry.get("pattern")
        if not isinstance(kind, str) or not kind.strip() or not isinstance(pattern, str) or not pattern:
            raise ValueError(f"{path}:line {line}: a rule needs a kind and a pattern (strings), got {entry}")
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            raise ValueError(f"{path}:line {line}: bad pattern {pattern!r}: {error}") from None
        rules.append(Rule(kind.strip(), compiled, line))
    if not rules:
        raise ValueError(f"{path}: no rule in the file")
    return rules


def _yaml_entries(path: Path) -> list[tuple[int, dict]]:
    """(line, mapping) per list item: the line of its pattern (of the item where it has none)."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:line {mark.line + 1}" if mark else str(path)
        raise ValueError(f"{where}: not YAML ({getattr(error, 'problem', None) or error}); "
                         "single-quote a pattern with backslashes: pattern: '\\d+寸'") from None
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise ValueError(f"{path}:line {root.start_mark.line + 1}: the rules must be a list of {{kind, pattern}}")
    entries = []
    for node in root.value:
        if not isinstance(node, yaml.MappingNode):
            raise ValueError(f"{path}:line {node.start_mark.line + 1}: a rule is a mapping {{kind, pattern}}")
        values = {key.value: value for key, value in node.value}
        line = (values.get("pattern") or node).start_mark.line + 1
        entries.append((line, {key: value.value for key, value in values.items() if isinstance(value, yaml.ScalarNode)}))
    return entries


def _json_entries(path: Path) -> list[tuple[int, dict]]:
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:line {number}: broken JSON: {error.msg}") from None
        if not isinstance(entry, dict):
            raise ValueError(f"{path}:line {number}: a rule is an object {{\"kind\", \"pattern\"}}")
        entries.append((number, entry))
    return entries


@dataclass(frozen=True)
class RegexFunction:
    """Every match of the rules over the NFKC-normalised, lower-cased title; where matches overlap,
    leftmost-longest: the one that starts first, at one place the longest (equal lengths: the rule
    listed first)."""

    rules: Sequence[Rule]
    name: str = "regex"

    def apply(self, texts: Sequence[str]) -> list[list[Span]]:
        spans = []
        for text in texts:
            norm = normalize(text, lowercase=True)
            found = [Span(m.start(), m.end(), rule.kind) for rule in self.rules for m in rule.pattern.finditer(norm.text)
                     if m.end() > m.start()]
            spans.append([Span(*norm.to_original(s.start, s.end), s.label) for s in _leftmost_longest(found)])
        return spans


@dataclass
class RuleExtractorFunction:
    """The project's rule extractor (:class:`~skugraph.tagging.rules.RuleExtractor`): its mentions
    whose meaning in the ontology (``colour``, ``capacity`` …) is one of ``kinds``."""

    kinds: Collection[str]
    extractor: RuleExtractor = field(default_factory=RuleExtractor)
    ontology: Ontology = field(default_factory=load_ontology)
    name: str = "rules"

    def apply(self, texts: Sequence[str]) -> list[list[Span]]:
        return [[Span(start, end, kind) for start, end, label, _ in self.extractor.spans(text)
                 if (kind := self.ontology.meaning(label)) in self.kinds] for text in texts]


class ModelFunction:
    """A trained tagger's spans whose meaning in the ontology (JD's ``16`` is ``colour``) is one of ``kinds``."""

    def __init__(self, path: str | Path, kinds: Collection[str], ontology: Ontology | None = None):
        from skugraph.tagging.tagger import load_tagger

        self.tagger = load_tagger(path)
        self.kinds = kinds
        self.ontology = ontology or load_ontology()
        self.name = f"model:{Path(path).name}"

    def apply(self, texts: Sequence[str]) -> list[list[Span]]:
        return [[Span(s.start, s.end, kind) for s in spans if (kind := self.ontology.meaning(s.label)) in self.kinds]
                for spans in self.tagger.predict(list(texts))]


def labelling_functions(lexicons: Mapping[str, Sequence[str | Path]] | None = None, rules: str | Path | None = None,
                        rule_extractor: bool = True, model: str | Path | None = None) -> list[LabellingFunction]:
    """The functions for the types that the ``lexicons`` (kind → word files) and the ``rules`` file
    name: a lexicon function per kind, the rules' regex function, then the rule extractor's and the
    ``model``'s spans of those types."""
    functions: list[LabellingFunction] = list(lexicon_functions(lexicons or {}))
    kinds = set(lexicons or {})
    if rules:
        regex = RegexFunction(read_rules(rules))
        functions.append(regex)
        kinds |= {rule.kind for rule in regex.rules}
    if not kinds:
        raise ValueError("name the types to label: give a lexicon (--lexicon KIND=FILE) or a rules file (--rules)")
    if rule_extractor:
        functions.append(RuleExtractorFunction(kinds))
    if model:
        functions.append(ModelFunction(model, kinds))
    return functions


@dataclass
class LabelModel:
    """Dawid–Skene: the true types' ``prior`` and, per function, ``confusion[j, true, vote]``."""

    prior: np.ndarray
    confusion: np.ndarray

    @classmethod
    def fit(cls, votes: np.ndarray, classes: int, iterations: int = 500, tolerance: float = 1e-8) -> LabelModel:
        """EM over ``votes`` (items × functions, class indices, 0 = O, :data:`ABSTAIN` = no vote), started from a soft
        majority vote (:func:`start`); stops when the log-likelihood per item gains less than ``tolerance``.
        Items that got the same votes are one pattern with a count (a few dozen patterns for a
        hundred thousand characters)."""
        patterns, counts = np.unique(votes, axis=0, return_counts=True)
        posteriors, before = start(patterns, classes, known_types(votes, classes)), -np.inf
        for _ in range(iterations):
            model = cls._maximise(patterns, posteriors * counts[:, None], classes)
            posteriors, likelihood = model._expect(patterns, counts)
            if likelihood - before < tolerance * len(votes):
                break
            before = likelihood
        return model

    @classmethod
    def _maximise(cls, patterns: np.ndarray, mass: np.ndarray, classes: int) -> LabelModel:
        """The model most likely given ``mass`` (patterns × classes: expected items of each true class)."""
        confusion = np.full((patterns.shape[1], classes, classes), 1e-2)  # a little smoothing: no vote is impossible
        for j in range(patterns.shape[1]):
            for vote in range(classes):
                confusion[j, :, vote] += mass[patterns[:, j] == vote].sum(0)
        confusion /= confusion.sum(2, keepdims=True)
        prior = (mass.sum(0) + 1e-2) / (mass.sum() + 1e-2 * classes)
        return cls(prior, confusion)

    def _expect(self, votes: np.ndarray, counts: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """Posteriors per row of ``votes`` and the log-likelihood of them all (each row ``counts`` times)."""
        log = np.log(self.prior)[None, :] + sum(np.where(votes[:, [j]] == ABSTAIN, 0.0, np.log(self.confusion[j][:, votes[:, j]]).T)
                                                for j in range(votes.shape[1]))
        top = log.max(1, keepdims=True)
        weights = np.exp(log - top)
        total = weights.sum(1, keepdims=True)
        evidence = (np.log(total) + top)[:, 0]
        return weights / total, float(evidence @ counts if counts is not None else evidence.sum())

    def posteriors(self, votes: np.ndarray) -> np.ndarray:
        """P(true type | the functions' votes) per item (items × classes)."""
        return self._expect(votes)[0]


def known_types(votes: np.ndarray, classes: int) -> np.ndarray:
    """Functions × classes: the types each function votes somewhere (False for O, which all vote)."""
    knows = np.stack([(votes == c).any(0) for c in range(classes)], axis=1)
    knows[:, 0] = False
    return knows


def start(votes: np.ndarray, classes: int, knows: np.ndarray) -> np.ndarray:
    """EM's first posteriors (Dawid and Skene start from the majority): each class's share of an
    item's votes, where an O vote counts against the types voted on the item only if its function
    votes one of them somewhere (``knows``): counted, the O of every list that never names a
    capacity would outvote the one pattern that does, and EM would stay where it started."""
    counts = vote_counts(votes, classes)
    voted = counts[:, 1:] > 0
    untyped = ~voted.any(1)
    counts[:, 0] = sum(((votes[:, j] == 0) & (untyped | (voted & knows[j, 1:]).any(1))).astype(float) for j in range(votes.shape[1]))
    return counts / np.maximum(counts.sum(1, keepdims=True), 1e-12)


def vote_counts(votes: np.ndarray, classes: int) -> np.ndarray:
    """Items × classes: how many functions vote each class (abstentions not counted)."""
    counts = np.zeros((len(votes), classes))
    for j in range(votes.shape[1]):
        voted = votes[:, j] != ABSTAIN
        np.add.at(counts, (np.arange(len(votes))[voted], votes[voted, j]), 1.0)
    return counts


def majority(votes: np.ndarray, classes: int) -> np.ndarray:
    """Per item, the type most functions vote (ties: the first in class order); O where none votes a type."""
    counts = vote_counts(votes, classes)
    counts[:, 0] = 0.5  # under any one vote for a type
    return counts.argmax(1)


@dataclass(frozen=True)
class FunctionReport:
    """How one function voted: shares of titles and of characters it votes a type on; of those
    characters, the share another function votes a type on too (overlap) and a different type
    (conflict); the share of its type votes the label model's decision agrees with, as the model
    reckons it (mean posterior of the voted type; no gold involved)."""

    name: str
    titles: float
    tokens: float
    overlap: float
    conflict: float
    accuracy: float


@dataclass
class WeakLabels:
    texts: list[LabelledText]
    reports: list[FunctionReport]
    labels: tuple[str, ...]  # the classes, O first
    model: LabelModel | None  # None for majority vote
    overruled: int = 0  # characters some function voted a type on that the label model decided O
    voted: int = 0  # characters some function voted a type on


def weak_label(texts: Sequence[str], functions: Sequence[LabellingFunction], label_model: str = "dawid-skene",
               ids: Sequence[str] | None = None) -> WeakLabels:
    """Apply ``functions`` to ``texts`` and decide each character's type by ``label_model``
    (``dawid-skene``, or ``majority``: the type most functions vote, ties to the first in label order)."""
    if label_model not in LABEL_MODELS:
        raise ValueError(f"unknown label model {label_model!r}; choose one of {', '.join(LABEL_MODELS)}")
    if not functions:
        raise ValueError("weak labels need at least one labelling function")
    voted = [function.apply(texts) for function in functions]
    labels = (OUTSIDE, *sorted({s.label for spans in voted for per_text in spans for s in per_text}))
    votes = vote_matrix(texts, voted, labels)
    model = LabelModel.fit(votes, len(labels)) if label_model == "dawid-skene" and len(labels) > 1 else None
    if model is not None:
        posteriors = model.posteriors(votes)
    else:
        posteriors = np.eye(len(labels))[majority(votes, len(labels))]
    decisions = posteriors.argmax(1)
    decided = decode(texts, decisions, voted, labels, ids)
    reports = [report(function.name, voted[j], votes, j, posteriors) for j, function in enumerate(functions)]
    typed = (votes > 0).any(1)
    return WeakLabels(decided, reports, labels, model, int((typed & (decisions == 0)).sum()), int(typed.sum()))


def vote_matrix(texts: Sequence[str], voted: Sequence[Sequence[Sequence[Span]]], labels: Sequence[str]) -> np.ndarray:
    """Characters (all texts, in order) × functions: the index in ``labels`` each function votes, or
    :data:`ABSTAIN` where another function's span of the same type overlaps one of its own and goes
    on beyond it (where it votes O: it has not seen the longer form, it has not judged it)."""
    index = {label: n for n, label in enumerate(labels)}
    offsets = np.cumsum([0, *map(len, texts)])
    votes = np.zeros((offsets[-1], len(voted)), dtype=np.int64)
    for j, per_text in enumerate(voted):
        for offset, spans in zip(offsets, per_text):
            for span in spans:
                votes[offset + span.start : offset + span.end, j] = index[span.label]
    for n, offset in enumerate(offsets[:-1]):
        for j, per_text in enumerate(voted):
            for mine in per_text[n]:
                for other in (s for k, theirs in enumerate(voted) if k != j for s in theirs[n]):
                    if other.label == mine.label and other.start < mine.end and mine.start < other.end:
                        column = votes[offset + other.start : offset + other.end, j]
                        column[column == 0] = ABSTAIN
    return votes


def decode(texts: Sequence[str], decisions: np.ndarray, voted: Sequence[Sequence[Sequence[Span]]],
           labels: Sequence[str], ids: Sequence[str] | None = None) -> list[LabelledText]:
    """Spans from per-character decisions: runs of one type, split where a function's span of
    that type starts and no function's span of that type crosses the place (two colours side by
    side stay two spans; a longer match stays whole beside a shorter one inside it)."""
    out, offset = [], 0
    for n, text in enumerate(texts):
        spans_here = [s for per_text in voted for s in per_text[n]]
        crossed = {(position, s.label) for s in spans_here for position in range(s.start + 1, s.end)}
        starts = {(s.start, s.label) for s in spans_here} - crossed
        spans, current = [], None
        for position in range(len(text) + 1):
            label = labels[decisions[offset + position]] if position < len(text) else OUTSIDE
            if current and (label != current[1] or (position, label) in starts):
                spans.append(Span(current[0], position, current[1]))
                current = None
            if label != OUTSIDE and current is None:
                current = (position, label)
        out.append(LabelledText(text, tuple(spans), ids[n] if ids else str(n + 1)))
        offset += len(text)
    return out


def report(name: str, spans: Sequence[Sequence[Span]], votes: np.ndarray, j: int, posteriors: np.ndarray) -> FunctionReport:
    """One function's coverage, overlap, conflict and estimated accuracy (see :class:`FunctionReport`)."""
    mine = votes[:, j] > 0
    others = np.delete(votes, j, axis=1)
    typed = others[mine]
    count = max(int(mine.sum()), 1)
    overlap = (typed > 0).any(1).sum() / count
    conflict = ((typed > 0) & (typed != votes[mine, j][:, None])).any(1).sum() / count
    accuracy = posteriors[mine, votes[mine, j]].sum() / count
    return FunctionReport(name, sum(1 for s in spans if s) / max(len(spans), 1), float(mine.sum() / max(len(votes), 1)),
                          float(overlap), float(conflict), float(accuracy))
