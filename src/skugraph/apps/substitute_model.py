"""Which substitutes people accept, learned from substitutes they judged: the labelling loop of
the inventory's stock-outs.

1. ``skugraph inventory --substitutes-out FILE`` writes each stock-out with its substitutes, one
   JSON line: ``{"product", "title", "accessory", "substitutes": [{"id", "title", "reason"}, …]}``.
2. Whoever knows the catalogue adds ``"ok": true`` or ``false`` to each substitute.
3. ``skugraph train substitutes FILE… --out DIR`` (:func:`learn_substitutes`) learns a logistic
   regression over the two titles' character bigrams, those they share and those only one of them
   has (商用 against 便携, 0.5 against 0.7), and the cosine of their bigram sets. The threshold
   is chosen on out-of-fold predictions, folds split by stock-out, where the pairs kept surely
   reach a precision (0.9 unless told; the lower end of a 90% Wilson interval).
4. ``skugraph inventory --substitute-model DIR`` keeps the recommender's substitutes that the
   model accepts at that threshold, in the recommender's order.

The recommender's rules decide what may stand in at all (type, fit, measures); the model learns
what the rules cannot read, such as a sub-kind the titles name in words of their own, from the
catalogue's own judgements. Saved without pickle: ``substitutes.json`` (threshold, training
record), ``vocabulary.json`` (feature names in column order), ``weights.safetensors``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file
from scipy import sparse

from skugraph import __version__

CONFIG = "substitutes.json"
KIND = "substitute-bigrams"
#: the files a model directory holds (another model's in the same directory would be overwritten)
_FILES = (CONFIG, "vocabulary.json", "weights.safetensors")
#: the precision the threshold is chosen for unless told
PRECISION = 0.9
#: how sure a threshold's precision must be: the lower end of a two-sided 90% Wilson interval (95% one-sided) of the
#: out-of-fold precision of the pairs it keeps must reach the target. Compared with 0 (the precision itself) only, on
#: seeds 15 to 19 of benchmarks/substitute_draws.py, each draw scored by the model learned from those before it: reaching
#: the target merely, 284 of 315 kept pairs right (90.2%; 84% to 93% a draw) for 159 of 600 stock-outs; surely, 179 of
#: 192 (93.2%; 89% to 100%) for 94. Seeds 20 to 26, drawn after: surely 299 of 325 (92.0%) for 160 of 840, merely 405
#: of 444 (91.2%) for 225 (results/substitute-draws.json)
CONFIDENCE = 0.9
#: the logistic regression's inverse regularisation (chosen on judged JD titles: trained on seeds 11 and 12, scored on 13)
C = 0.1
_SPACE = re.compile(r"\s+")


class SubstituteDataError(ValueError):
    """A judged substitutes file that cannot be read: names the file, line and field."""


@dataclass(frozen=True)
class JudgedPair:
    product: str
    title: str
    substitute: str
    substitute_title: str
    ok: bool


def read_judged(paths: Iterable[str | Path]) -> list[JudgedPair]:
    """The judged pairs of substitutes files (one JSON line per stock-out); a substitute without
    ``"ok": true`` or ``false`` is not judged and left out, any other fault is an error naming
    the file, line and field."""
    pairs: list[JudgedPair] = []
    for path in map(Path, paths):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SubstituteDataError(f"{path}: not UTF-8 text") from None
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise SubstituteDataError(f"{where}: broken JSON: {error.msg}") from None
            if not isinstance(row, dict):
                raise SubstituteDataError(f"{where}: a line is one stock-out, a JSON object")
            for name in ("product", "title"):
                if not isinstance(row.get(name), str) or not row[name].strip():
                    raise SubstituteDataError(f"{where}: field {name}: missing or not text")
            if not isinstance(row.get("substitutes", []), list):
                raise SubstituteDataError(f"{where}: field substitutes: not a list")
            for i, substitute in enumerate(row.get("substitutes", [])):
                field_of = f"{where}: field substitutes[{i}]"
                if not isinstance(substitute, dict):
                    raise SubstituteDataError(f"{field_of}: not an object")
                for name in ("id", "title"):
                    if not isinstance(substitute.get(name), str) or not substitute[name].strip():
                        raise SubstituteDataError(f"{field_of}.{name}: missing or not text")
                ok = substitute.get("ok")
                if ok is None:
                    continue
                if not isinstance(ok, bool):
                    raise SubstituteDataError(f"{field_of}.ok: {ok!r} is not true or false")
                pairs.append(JudgedPair(row["product"], row["title"], substitute["id"], substitute["title"], ok))
    return pairs


def _bigrams(title: str) -> set[str]:
    text = _SPACE.sub("", title.lower())
    return {text[i : i + 2] for i in range(len(text) - 1)}


def pair_features(title: str, other: str) -> dict[str, float]:
    """What the model reads of a product's title and a substitute's: the cosine of their
    character-bigram sets (``cosine``), each bigram both have (``s:``) and each only one has (``d:``)."""
    ours, theirs = _bigrams(title), _bigrams(other)
    features = {"cosine": len(ours & theirs) / math.sqrt(len(ours) * len(theirs)) if ours and theirs else 0.0}
    features.update((f"s:{gram}", 1.0) for gram in ours & theirs)
    features.update((f"d:{gram}", 1.0) for gram in ours ^ theirs)
    return features


def _matrix(rows: Sequence[dict[str, float]], columns: dict[str, int]) -> sparse.csr_matrix:
    data, indices, pointers = [], [], [0]
    for row in rows:
        for name, value in row.items():
            if (column := columns.get(name)) is not None:
                indices.append(column)
                data.append(value)
        pointers.append(len(indices))
    return sparse.csr_matrix((np.array(data, dtype=np.float64), np.array(indices, dtype=np.int64), pointers),
                             shape=(len(rows), len(columns)))


def _fit(rows: Sequence[dict[str, float]], labels: np.ndarray, c: float) -> tuple[dict[str, int], np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    columns = {name: i for i, name in enumerate(sorted({name for row in rows for name in row}))}
    model = LogisticRegression(C=c, max_iter=5000).fit(_matrix(rows, columns), labels)
    return columns, model.coef_[0], float(model.intercept_[0])


def _probabilities(rows: Sequence[dict[str, float]], columns: dict[str, int], coef: np.ndarray, intercept: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(_matrix(rows, columns) @ coef + intercept)))


@dataclass
class SubstituteModel:
    columns: dict[str, int]
    coef: np.ndarray
    intercept: float
    #: a substitute is kept where its probability reaches this
    threshold: float
    record: dict = field(default_factory=dict)

    def probabilities(self, title: str, others: Sequence[str]) -> np.ndarray:
        """The probability that each of ``others`` is accepted as a substitute for ``title``."""
        if not others:
            return np.zeros(0)
        return _probabilities([pair_features(title, other) for other in others], self.columns, self.coef, self.intercept)

    def save(self, out: str | Path) -> Path:
        out = Path(out)
        if not (out / CONFIG).is_file() and any((out / name).exists() for name in _FILES):
            raise ValueError(f"{out} holds another model's files ({', '.join(n for n in _FILES if (out / n).exists())}): "
                             "write the substitute model to a directory of its own")
        out.mkdir(parents=True, exist_ok=True)
        vocabulary = sorted(self.columns, key=self.columns.get)
        (out / "vocabulary.json").write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
        save_file({"coef": np.ascontiguousarray(self.coef, dtype=np.float32),
                   "intercept": np.array([self.intercept], dtype=np.float32)}, str(out / "weights.safetensors"))
        settings = {"kind": KIND, "threshold": self.threshold, "record": self.record}
        (out / CONFIG).write_text(json.dumps(settings, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | Path) -> SubstituteModel:
        """The model saved at ``path``; one that is not (or whose files disagree) is a
        :class:`SubstituteDataError` naming the directory and what is wrong."""
        path = Path(path)
        if not path.is_dir():
            raise SubstituteDataError(f"{path}: no such directory (`skugraph train substitutes --out` writes a substitute model)")
        if not (path / CONFIG).is_file():
            raise SubstituteDataError(f"{path}: not a substitute model directory (no {CONFIG}; `skugraph train substitutes` writes one)")
        try:
            settings = json.loads((path / CONFIG).read_text(encoding="utf-8"))
            vocabulary = json.loads((path / "vocabulary.json").read_text(encoding="utf-8"))
            weights = load_file(str(path / "weights.safetensors"))
            if settings.get("kind") != KIND:
                raise ValueError(f"{CONFIG} says kind {settings.get('kind')!r}, not {KIND!r}")
            threshold, coef, intercept = float(settings["threshold"]), weights["coef"].astype(np.float64), weights["intercept"]
            if not isinstance(vocabulary, list) or coef.shape != (len(vocabulary),) or intercept.shape != (1,):
                raise ValueError("vocabulary.json and weights.safetensors disagree")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, SafetensorError) as error:
            detail = f"no {error.args[0]}" if isinstance(error, KeyError) else getattr(error, "strerror", None) or str(error)
            raise SubstituteDataError(f"{path}: not a substitute model ({detail})") from None
        return cls({name: i for i, name in enumerate(vocabulary)}, coef, float(intercept[0]), threshold, settings.get("record", {}))


def precision_curve(probabilities: np.ndarray, labels: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, share of pairs kept, precision of those kept) at each distinct probability, highest first."""
    order = np.argsort(-probabilities, kind="stable")
    ranked, right = probabilities[order], np.cumsum(labels[order])
    curve = []
    for i in range(len(ranked)):
        if i + 1 == len(ranked) or ranked[i + 1] < ranked[i]:
            curve.append((float(ranked[i]), (i + 1) / len(ranked), float(right[i] / (i + 1))))
    return curve


def surely_at_least(right: int, kept: int, confidence: float = CONFIDENCE) -> float:
    """The precision ``right`` of ``kept`` pairs surely reach: the lower end of its two-sided
    Wilson interval at ``confidence`` (0: ``right / kept`` itself)."""
    from scipy.stats import binomtest

    if not kept or not confidence:
        return right / kept if kept else 0.0
    return float(binomtest(right, kept).proportion_ci(confidence, method="wilson").low)


def choose_threshold(curve: Sequence[tuple[float, float, float]], precision: float, pairs: int,
                     confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """The lowest threshold of ``curve`` (of ``pairs`` judged) at which the pairs kept surely reach
    ``precision`` (:func:`surely_at_least` at ``confidence``): the lowest at which they merely
    reach it is where the curve's noise happens to lift it, and a new draw scores lower (surely
    reaching 0.9 takes some 25 pairs in a row judged right at the top of the ranking, or 42 with one
    wrong). Where none does, the one surely the most precise (at ``confidence`` 0, the one of the
    best precision keeping a tenth of the pairs at least, where the curve has such a point).
    (threshold, share kept, precision)."""
    reaching = [point for point in curve if _sure(point, pairs, confidence) >= precision]
    if reaching:
        return min(reaching, key=lambda point: point[0])
    if confidence:
        return max(curve, key=lambda point: (_sure(point, pairs, confidence), point[1]))
    wide = [point for point in curve if point[1] >= 0.1] or list(curve)
    return max(wide, key=lambda point: (point[2], point[1]))


def _sure(point: tuple[float, float, float], pairs: int, confidence: float) -> float:
    """:func:`surely_at_least` of a ``curve`` point (threshold, share kept, precision) of ``pairs`` judged."""
    kept = round(point[1] * pairs)
    return surely_at_least(round(point[2] * kept), kept, confidence)


def one_call_each(pairs: Iterable[JudgedPair]) -> list[JudgedPair]:
    """One call per (stock-out, substitute) pair judged more than once (by several judges, or in
    several files): the majority's; a pair the calls split evenly on is left out."""
    calls: dict[tuple[str, str], list[JudgedPair]] = {}
    for pair in pairs:
        calls.setdefault((pair.product, pair.substitute), []).append(pair)
    return [replace(judged[0], ok=2 * right > len(judged)) for judged in calls.values()
            if 2 * (right := sum(pair.ok for pair in judged)) != len(judged)]


def learn_substitutes(pairs: Sequence[JudgedPair], precision: float = PRECISION, folds: int = 5, c: float = C,
                      confidence: float = CONFIDENCE) -> SubstituteModel:
    """A substitute model from judged pairs (both calls among them; a pair judged more than once
    counts once, :func:`one_call_each`): out-of-fold probabilities (folds split by stock-out, so
    no fold sees the stock-out it is scored on) choose the threshold at which the pairs kept
    surely reach ``precision`` (:func:`choose_threshold` at ``confidence``); the model kept is
    trained on all pairs."""
    from sklearn.model_selection import GroupKFold

    pairs = one_call_each(pairs)
    if not pairs:
        raise ValueError('no substitute is judged: add "ok": true or false to each substitute of the stock-outs you judge')
    labels = np.array([pair.ok for pair in pairs], dtype=int)
    if len(set(labels.tolist())) < 2:
        raise ValueError(f"learning substitutes needs pairs judged right and pairs judged wrong; the {len(pairs)} judged "
                         f"pairs are all {'right' if labels.any() else 'wrong'}")
    groups = np.array([pair.product for pair in pairs])
    splits = min(folds, len(set(groups.tolist())))
    if splits < 2:
        raise ValueError("learning substitutes needs the judged substitutes of two stock-outs at least")
    rows = [pair_features(pair.title, pair.substitute_title) for pair in pairs]
    held_out = np.zeros(len(pairs))
    for train, test in GroupKFold(splits).split(rows, labels, groups):
        if len(set(labels[train].tolist())) < 2:  # a fold of one call: the share of right pairs is all it knows
            held_out[test] = labels[train].mean()
            continue
        columns, coef, intercept = _fit([rows[i] for i in train], labels[train], c)
        held_out[test] = _probabilities([rows[i] for i in test], columns, coef, intercept)
    curve = precision_curve(held_out, labels)
    threshold, kept, reached = choose_threshold(curve, precision, len(pairs), confidence)
    sure = _sure((threshold, kept, reached), len(pairs), confidence)
    columns, coef, intercept = _fit(rows, labels, c)
    record = {"pairs": len(pairs), "right": int(labels.sum()), "stock_outs": len(set(groups.tolist())), "folds": splits, "c": c,
              "target_precision": precision, "confidence": confidence, "reached": sure >= precision, "threshold": round(threshold, 4),
              "out_of_fold": {"kept": round(kept, 4), "precision": round(reached, 4), "surely_at_least": round(sure, 4),
                              "auc": _auc(held_out, labels),
                              "precision_of_all": round(float(labels.mean()), 4)},
              "skugraph": __version__}
    return SubstituteModel(columns, coef, intercept, threshold, record)


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(labels, scores)), 4)
