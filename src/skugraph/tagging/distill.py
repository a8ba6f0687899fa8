"""Knowledge distillation of a tagger: a smaller network learns the teacher's per-token tag
probabilities on the user's own unlabelled texts.

    skugraph distill --teacher models/tagger --unlabelled listings.jsonl --layers 2 --dev dev.bio --out models/small

Teacher and student, and why:

- The teacher is a model directory as :func:`~skugraph.tagging.tagger.load_tagger` loads it:
  usually the ensemble of a network and its character CRF member (:mod:`skugraph.tagging.ensemble`).
- The student is the teacher's network cut to its first ``layers`` encoder layers (embeddings,
  lexicon and bigram layers and the classifier copied too), so it starts where the teacher's
  lower layers are, not from nothing. It has no CRF layer: its per-token softmax is trained to
  *be* the target marginals, which a CRF's emissions are not, and it is decoded under the
  BIO/BIEOS constraints like any tagger.
- The targets (``targets``) are the ensemble's per-character marginals mapped onto the
  student's tokens (``ensemble``; a token of several characters gets each tag in proportion to
  the product of its characters' probabilities of that tag's spread, see
  :func:`token_targets`), or the teacher network's own token marginals (``network``). The loss
  is the KL divergence from them, plus ``gold_weight`` × the gold cross-entropy on labelled
  training texts where they are given.
- The student is saved as a model directory of the same kind as the teacher: with the teacher's
  CRF member beside it (its weight and the temperature chosen again on dev, as training does),
  so ``load_tagger`` loads it as an ensemble exactly like the teacher (the span scorer fitted
  again on dev too); ``keep_crf=False`` saves
  the network alone (faster: no crfsuite pass and no per-character averaging). ``int8`` also
  writes the ONNX and int8 files (:func:`skugraph.tagging.runtime.export_onnx`); run them
  with the ``onnx-int8`` runtime.

``student="crf"`` makes the fastest student instead: the character CRF alone
(:mod:`skugraph.tagging.crf_tagger`, the teacher's CRF member's features), trained on the
teacher's best tags of the unlabelled texts (sequence-level distillation, Kim & Rush 2016:
crfsuite learns from tag sequences, not from probabilities) and on the gold tags of the
labelled training texts; given both, a CRF of the gold texts alone competes on dev (the
teacher's tags of texts unlike the gold ones can teach it the teacher's errors) and the better
is kept. Its temperature is fitted on dev. No network runs when it tags.

The metadata's ``distillation`` section names the teacher (path, layers, dev F1), the
student's kind, the unlabelled file, the targets and the dev F1s.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from skugraph import __version__
from skugraph.corpus.ner import LabelledText, Span, read_labelled
from skugraph.lm.corpus import file_sha256
from skugraph.lm.finetune import DevScore, FineTuneConfig, fine_tune, precision, seed_everything, versions
from skugraph.lm.model import tune_for_cpu
from skugraph.tagging.crf_member import CRF_FILE, CrfFeatures, CrfMember
from skugraph.tagging.crf_tagger import CrfTagger
from skugraph.tagging.decode import constraint_scores
from skugraph.tagging.encoding import Encoded, token_tags
from skugraph.tagging.ensemble import ENSEMBLE, NETWORKS, EnsembleTagger, calibrate_ensemble, fit_crf_weight, tag_spread
from skugraph.tagging.model import TaggerConfig, TaggerModel
from skugraph.tagging.self_training import read_unlabelled
from skugraph.tagging.tagger import Tagger, fit_temperature, load_tagger, window_batch
from skugraph.tagging.train import length_batches
from skugraph.tagging.windows import windows

DISTILLATION = "distillation"  # the metadata section
TARGETS = ("ensemble", "network")
STUDENTS = ("network", "crf")
_TAGGED_AT_ONCE = 1000  # texts the teacher tags at a time for a CRF student (it holds their scores until it decodes)
_FLOOR = float(np.log(1e-9))  # the lowest log probability the loss sees (blocked tags score about -1e9)


@dataclass(kw_only=True)
class DistillConfig:
    teacher: Path  # a tagger directory (an ensemble or a network alone)
    unlabelled: Path  # the user's texts: .txt a text a line, .csv/.tsv (column), listings .jsonl
    out: Path
    student: str = "network"  # network | crf (see the module docstring)
    layers: int = 2  # a network student's encoder layers: the teacher's first ones
    dev: Path | None = None  # labelled dev texts: the kept epoch, the CRF's weight, calibration
    train: Path | None = None  # labelled training texts: also the gold loss (they are targets too)
    format: str | None = None  # of dev/train (default: from the file name)
    column: str | None = None  # the CSV column of the unlabelled texts
    limit: int = 20_000  # at most this many unlabelled texts (a random sample)
    targets: str = "ensemble"  # ensemble | network (see the module docstring)
    gold_weight: float = 0.5  # the gold cross-entropy's weight beside the KL term
    keep_crf: bool = True  # save the teacher's CRF member beside the student (when the teacher has one)
    int8: bool = False  # also export tagger.onnx and tagger.int8.onnx
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 2e-4  # the encoder's
    head_learning_rate: float = 2e-3  # lexicon, bigram and classifier layers
    patience: int = 4
    time_budget_minutes: float | None = None  # of student training (the teacher's labelling comes first)
    precision: str = "auto"
    crf_iterations: int = 100  # a CRF student's L-BFGS iterations
    seed: int = 42


@dataclass
class Distilled:
    student: Tagger | EnsembleTagger | CrfTagger  # as load_tagger loads the saved directory
    record: dict  # the metadata's distillation section


@dataclass
class _Item:
    encoded: Encoded
    start: int
    end: int
    soft: np.ndarray  # [end - start, tags] target probabilities
    gold: list[int] | None  # tag ids, for labelled training texts


def student_network(teacher: TaggerModel, layers: int) -> TaggerModel:
    """A copy of ``teacher`` (fp32) with its first ``layers`` encoder layers and no CRF layer."""
    encoder = copy.deepcopy(teacher.encoder).float()
    stack = encoder.encoder.layer
    if not 0 < layers < len(stack):
        raise ValueError(f"the student needs 1 to {len(stack) - 1} layers (the teacher has {len(stack)}), not {layers}")
    encoder.encoder.layer = torch.nn.ModuleList(stack[:layers])
    encoder.config.num_hidden_layers = layers
    student = TaggerModel(encoder, replace(teacher.config, crf=False))
    heads = {k: v.float() for k, v in teacher.state_dict().items() if not k.startswith(("encoder.", "crf."))}
    student.load_state_dict(heads, strict=False)
    return student


def token_targets(char_probabilities: np.ndarray, offsets: Sequence[tuple[int, int]], tags: list[str]) -> np.ndarray:
    """Per-token tag probabilities [tokens, tags] from per-character ones: a one-character token
    takes its character's; a longer one gives each tag the product of its characters'
    probabilities of that tag's spread (``B-x`` over ``abc``: B-x, I-x, I-x), normalised."""
    spread = tag_spread(tags)
    logs = np.log(np.clip(char_probabilities, 1e-9, 1.0))
    out = np.empty((len(offsets), len(tags)))
    for row, (start, end) in enumerate(offsets):
        if end - start == 1:
            out[row] = char_probabilities[start]
            continue
        score = spread[0] @ logs[start] + spread[2] @ logs[end - 1] + spread[1] @ logs[start + 1 : end - 1].sum(axis=0)
        score = np.exp(score - score.max())
        out[row] = score / score.sum()
    return out


def teacher_targets(teacher: Tagger | EnsembleTagger, texts: Sequence[str], targets: str) -> list[np.ndarray]:
    """The target probabilities [tokens, tags] of each text (tokens as the teacher's network cuts it)."""
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {', '.join(TARGETS)}, not {targets!r}")
    network = teacher.neural if isinstance(teacher, EnsembleTagger) else teacher
    if targets == "network" or network is teacher:
        return [network.marginals(scores, 1.0) for scores in network.scores(texts)]
    neural, crf = teacher.member_scores(texts)
    combined = teacher.combine(texts, neural, crf)
    return [token_targets(chars.marginals, scores.encoded.offsets, network.config.tags)
            for chars, scores in zip(combined, neural, strict=True)]


def _items(network: Tagger, texts: Sequence[str], soft: Sequence[np.ndarray], gold: dict[str, LabelledText]) -> list[_Item]:
    """Training windows of the texts with their targets (and gold tags where the text is labelled)."""
    size = network.config.window - 2
    tag_index = {tag: i for i, tag in enumerate(network.config.tags)}
    out = []
    for text, probabilities in zip(texts, soft, strict=True):
        encoded = network.encoder.encode(text)
        for start, end in windows(len(encoded.ids), size, min(network.config.stride, size)) if encoded.ids else []:
            labelled = gold.get(text)
            tags = ([tag_index[t] for t in token_tags(encoded.offsets[start:end], labelled.spans, network.config.scheme)]
                    if labelled else None)
            out.append(_Item(encoded, start, end, probabilities[start:end].astype(np.float32), tags))
    return out


def chain_log_marginals(log_probs: torch.Tensor, mask: torch.Tensor, start: torch.Tensor, transition: torch.Tensor,
                        end: torch.Tensor) -> torch.Tensor:
    """Log tag probabilities [B, T, C] of each token in the constrained chain over per-token log
    probabilities ``log_probs`` (forward-backward in torch, differentiable): what
    :meth:`Tagger.marginals <skugraph.tagging.tagger.Tagger.marginals>` computes for a tagger
    without a CRF layer. ``mask`` [B, T] marks each row's tokens, left-aligned; ``start``,
    ``transition``, ``end``: additive scores (0 allowed, very negative blocked). Runs in
    probability space, each step rescaled to sum to 1 (a matrix product a step: cheaper to
    train through than log-sum-exp over [B, C, C])."""
    probs, move, last = log_probs.exp(), transition.exp(), end.exp()[None].expand_as(log_probs[:, 0])

    def rescaled(values: torch.Tensor) -> torch.Tensor:
        return values / values.sum(-1, keepdim=True).clamp_min(1e-30)

    alphas = [rescaled(start.exp()[None] * probs[:, 0])]
    for t in range(1, log_probs.shape[1]):
        alphas.append(torch.where(mask[:, t, None], rescaled((alphas[-1] @ move) * probs[:, t]), alphas[-1]))
    betas = [last]
    for t in range(log_probs.shape[1] - 2, -1, -1):
        betas.append(torch.where(mask[:, t + 1, None], rescaled((probs[:, t + 1] * betas[-1]) @ move.T), last))
    joint = torch.stack(alphas, 1) * torch.stack(betas[::-1], 1)
    return torch.log(rescaled(joint).clamp_min(1e-30))


def distillation_loss(emissions: torch.Tensor, soft: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor,
                      gold_mask: torch.Tensor, gold_weight: float, constraints: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """KL(targets ‖ the student's marginals) per token, averaged over ``mask``, plus
    ``gold_weight`` × the gold tags' negative log marginal over ``gold_mask`` (when any); the
    marginals are those of the constrained chain over the emissions' softmax, as the student
    decodes, floored at 1e-9."""
    log_q = chain_log_marginals(torch.log_softmax(emissions.float(), dim=-1), mask, *constraints).clamp_min(_FLOOR)
    kl = (soft * (torch.log(soft.clamp_min(1e-9)) - log_q)).sum(-1)  # target mass on a blocked tag costs a constant
    loss = kl[mask].mean()
    if gold_mask.any() and gold_weight:
        loss = loss + gold_weight * torch.nn.functional.nll_loss(log_q[gold_mask], gold[gold_mask])
    return loss


def _labelled(path: Path | None, format: str | None, labels: set[str]) -> list[LabelledText]:
    """Labelled texts with the spans of the teacher's entity types only."""
    if path is None:
        return []
    data = read_labelled(path, format, on_error=lambda error: None)
    return [LabelledText(d.text, tuple(s for s in d.spans if s.label in labels), d.id) for d in data]


def distill(config: DistillConfig, progress: Callable[[dict], None] | None = None) -> Distilled:
    """Label the unlabelled texts with the teacher, train the student on them, save it in
    ``config.out`` (see the module docstring) and return it as ``load_tagger`` loads it."""
    began = time.perf_counter()
    if config.student not in STUDENTS:
        raise ValueError(f"the student must be one of {', '.join(STUDENTS)}, not {config.student!r}")
    if config.student == "crf" and config.int8:
        raise ValueError("a CRF student has no network to export to int8")
    seed_everything(config.seed)
    teacher = load_tagger(config.teacher)
    if isinstance(teacher, CrfTagger):
        raise ValueError(f"{config.teacher}: a CRF alone has no smaller student")
    network = teacher.neural if isinstance(teacher, EnsembleTagger) else teacher
    labels = set(network.config.entity_types)
    train = _labelled(config.train, config.format, labels)
    dev = _labelled(config.dev, config.format, labels)
    texts = read_unlabelled(config.unlabelled, config.column, config.limit, seed=config.seed)  # stripped
    known = set(texts)
    texts += [item.text for item in train if item.text not in known]
    if not texts:
        raise ValueError(f"{config.unlabelled}: no texts to distil on")
    if config.student == "crf":
        return _distill_crf(config, teacher, network, texts, train, dev, began)
    fp32_teacher, tokenizer, words, ngrams, teacher_meta = TaggerModel.load(Path(config.teacher))
    model = student_network(fp32_teacher, config.layers)
    soft = teacher_targets(teacher, texts, config.targets)
    labelling_seconds = time.perf_counter() - began
    items = _items(network, texts, soft, {item.text: item for item in train})

    tune_for_cpu(model.encoder)
    student = Tagger(model, tokenizer, words, ngrams)
    crf = teacher.crf if isinstance(teacher, EnsembleTagger) and config.keep_crf else None
    ensemble = EnsembleTagger(student, crf, teacher.temperature, teacher.crf_weight) if crf else None
    dev_crf = crf.marginals([d.text for d in dev]) if crf and dev else None
    constraints = tuple(torch.tensor(scores, dtype=torch.float32) for scores in constraint_scores(network.config.tags))

    def batch_loss(forward: Callable[..., torch.Tensor], batch: list[_Item]) -> torch.Tensor:
        inputs = window_batch([b.encoded for b in batch], [(b.start, b.end) for b in batch], tokenizer)
        longest = max(b.end - b.start for b in batch)
        soft_batch = torch.zeros((len(batch), longest, len(network.config.tags)))
        mask = torch.zeros((len(batch), longest), dtype=torch.bool)
        gold = torch.zeros((len(batch), longest), dtype=torch.long)
        gold_mask = torch.zeros((len(batch), longest), dtype=torch.bool)
        for row, b in enumerate(batch):
            length = b.end - b.start
            soft_batch[row, :length] = torch.from_numpy(b.soft)
            mask[row, :length] = True
            if b.gold is not None:
                gold[row, :length] = torch.tensor(b.gold)
                gold_mask[row, :length] = True
        emissions = forward(**inputs)[:, 1 : 1 + longest]
        return distillation_loss(emissions, soft_batch, mask, gold, gold_mask, config.gold_weight, constraints)

    def dev_score() -> DevScore:
        scores = student.scores([d.text for d in dev])
        alone = student.evaluate(dev, scores).micro.f1
        if ensemble is None:
            return DevScore(alone)
        together = ensemble.evaluate(dev, ensemble.combine([d.text for d in dev], scores, dev_crf)).micro.f1
        return DevScore(together, {"network_f1": round(alone, 4)})

    rng = random.Random(config.seed)
    fine = FineTuneConfig(out=config.out, base_model=str(config.teacher), epochs=config.epochs, batch_size=config.batch_size,
                          learning_rate=config.learning_rate, head_learning_rate=config.head_learning_rate,
                          patience=config.patience, time_budget_minutes=config.time_budget_minutes,
                          precision=config.precision, seed=config.seed)
    per_epoch = max(1, -(-len(items) // config.batch_size))
    rates = {"encoder.": (config.learning_rate, 0.01), "": (config.head_learning_rate, 0.01)}
    run = fine_tune(model, rates, lambda epoch: length_batches(items, config.batch_size, rng), batch_loss, fine,
                    steps_per_epoch=per_epoch, dev=dev_score if dev else None, started=time.perf_counter(),
                    progress=progress)
    model.eval()
    student = Tagger(model, tokenizer, words, ngrams)
    record = _calibrated_record(config, teacher_meta, student, dev)
    ensemble_section = None
    own = {k: v for k, v in teacher_meta.get(ENSEMBLE, {}).items() if k != NETWORKS}  # the student is one network
    if dev:
        if crf:
            ensemble_section = _refit_ensemble(EnsembleTagger(student, crf), own, dev)
    elif crf:  # the teacher's weight and temperature; its span scorer read the teacher's network
        ensemble_section = {**{k: v for k, v in own.items() if k != "span_scorer"}, "use": True}
    if ensemble_section:
        record[ENSEMBLE] = ensemble_section
    student_f1 = None
    if dev:
        student_f1 = (ensemble_section["dev_f1"]["ensemble"] if ensemble_section and ensemble_section["use"]
                      else record["dev_report"]["micro"]["f1"])
    section = _section(config, teacher, texts, train, dev, student_f1, labelling_seconds, began)
    section["unlabelled"]["windows"] = len(items)
    section.update({"layers": config.layers, "targets": config.targets if network is not teacher else "network",
                    "epochs_run": run.epochs, "best_epoch": run.best_epoch, "history": run.history})
    record.update({DISTILLATION: section, "precision": precision(config.precision), "versions": versions()})
    if config.out.exists():
        shutil.rmtree(config.out)
    model.save(config.out, tokenizer, words, ngrams, record)
    if crf:
        shutil.copyfile(Path(config.teacher) / CRF_FILE, config.out / CRF_FILE)
    if config.int8:
        from skugraph.tagging.runtime import export_onnx

        export_onnx(config.out)
    return Distilled(load_tagger(config.out), section)


def _calibrated_record(config: DistillConfig, teacher_meta: dict, student: Tagger | CrfTagger,
                       dev: Sequence[LabelledText]) -> dict:
    """The student's metadata record: what it was taught from and, with dev, its scores there and
    its temperature fitted there (set on ``student``)."""
    record: dict = {"skugraph_version": __version__, "base_model": teacher_meta.get("base_model"),
                    "train": teacher_meta.get("train"), "dev": {"path": str(config.dev), "texts": len(dev)} if dev else None}
    if dev:
        scores = student.scores([d.text for d in dev])
        record["dev_report"] = student.evaluate(dev, scores).to_dict()
        temperature, before, after = fit_temperature(student, scores, dev)
        student.config.temperature = temperature
        record["calibration"] = {"temperature": temperature, "ece_uncalibrated": round(before, 4), "ece_calibrated": round(after, 4)}
    return record


def _section(config: DistillConfig, teacher: Tagger | EnsembleTagger, texts: Sequence[str],
             train: Sequence[LabelledText], dev: Sequence[LabelledText], student_f1: float | None,
             labelling_seconds: float, began: float) -> dict:
    """The metadata's distillation section, less what only a network student has."""
    teacher_f1 = teacher.evaluate(dev).micro.f1 if dev else None
    return {
        "teacher": {"path": str(Path(config.teacher).resolve()), "layers": _teacher_layers(teacher),
                    "kind": "ensemble" if isinstance(teacher, EnsembleTagger) else "network",
                    "dev_f1": round(teacher_f1, 4) if teacher_f1 is not None else None},
        "student": config.student,
        "unlabelled": {"path": str(config.unlabelled), "sha256": file_sha256(config.unlabelled), "texts": len(texts)},
        "gold": {"path": str(config.train), "texts": len(train), "weight": config.gold_weight} if train else None,
        "dev_f1": round(student_f1, 4) if student_f1 is not None else None,
        "labelling_seconds": round(labelling_seconds, 1), "seconds": round(time.perf_counter() - began, 1),
        "settings": json.loads(json.dumps(asdict(config), default=str)),
    }


def _teacher_layers(teacher: Tagger | EnsembleTagger) -> int:
    """The encoder layers of the teacher's (first) network."""
    network = teacher.neural if isinstance(teacher, EnsembleTagger) else teacher
    return len(network.model.encoder.encoder.layer)


def _distill_crf(config: DistillConfig, teacher: Tagger | EnsembleTagger, network: Tagger, texts: Sequence[str],
                 train: Sequence[LabelledText], dev: Sequence[LabelledText], began: float) -> Distilled:
    """The CRF student (see the module docstring) of ``teacher`` (``network``: its network, whose
    tags, lexicons and metadata it takes): trained, calibrated on dev and saved. With gold
    training texts and dev, a CRF of the gold texts alone is trained too, and dev keeps the
    better: the teacher's tags of texts unlike the gold ones can teach it the teacher's errors."""
    teacher_meta = network.meta
    gold_texts = {item.text.strip() for item in train}
    untagged = [text for text in texts if text.strip() not in gold_texts]
    tagged = [LabelledText(text, tuple(Span(s.start, s.end, s.label) for s in spans))
              for first in range(0, len(untagged), _TAGGED_AT_ONCE)
              for text, spans in zip(untagged[first : first + _TAGGED_AT_ONCE],
                                     teacher.predict(untagged[first : first + _TAGGED_AT_ONCE]), strict=True)]
    labelling_seconds = time.perf_counter() - began
    settings = teacher_meta.get(ENSEMBLE, {}).get("crf", {})
    features = CrfFeatures(network.lexicon_words, words=settings.get("words", True), window=settings.get("window", 2))
    student_config = TaggerConfig(tags=network.config.tags, scheme=network.config.scheme, lexicons=network.config.lexicons)
    training_sets = {"gold+teacher" if train else "teacher": [*train, *tagged], **({"gold": list(train)} if train and dev else {})}
    students, dev_f1, seconds = {}, {}, {}
    for name, data in training_sets.items():
        started = time.perf_counter()
        crf = CrfMember.train(data, network.config.tags, network.config.scheme, features, iterations=config.crf_iterations)
        seconds[name] = round(time.perf_counter() - started, 1)
        students[name] = CrfTagger(crf, replace(student_config), network.lexicon_words)  # a config each: its own temperature
        if dev:
            dev_f1[name] = students[name].evaluate(dev).micro.f1
    kept = max(students, key=lambda name: dev_f1.get(name, 0.0))
    tagger = students[kept]
    record = _calibrated_record(config, teacher_meta, tagger, dev)
    section = _section(config, teacher, texts, train, dev, dev_f1.get(kept), labelling_seconds, began)
    if section["gold"]:
        section["gold"]["weight"] = None  # the gold tags replace the teacher's: no loss to weigh
    section.update({"layers": None, "targets": "best tags", "tagged_texts": len(tagged), "trained_on": kept,
                    "dev_f1_by_training": {name: round(f1, 4) for name, f1 in dev_f1.items()},
                    "crf": {"iterations": config.crf_iterations, "train_seconds": seconds}})
    record.update({DISTILLATION: section, "versions": versions()})
    if config.out.exists():
        shutil.rmtree(config.out)
    tagger.save(config.out, record)
    return Distilled(load_tagger(config.out), section)


def _refit_ensemble(ensemble: EnsembleTagger, teacher_section: dict, dev: Sequence[LabelledText]) -> dict:
    """The teacher's ensemble section for the student: the CRF's weight, the temperature and the
    span scorer fitted again on dev, the dev F1s, and whether the ensemble beats the student alone."""
    by_weight, neural, crf = fit_crf_weight(ensemble, dev)
    combined = ensemble.combine([d.text for d in dev], neural, crf)
    dev_f1 = {"neural": ensemble.neural.evaluate(dev, neural).micro.f1, "crf": by_weight[1.0],
              "ensemble": by_weight[ensemble.crf_weight]}
    section = {**teacher_section, "use": dev_f1["ensemble"] > dev_f1["neural"],
               "dev_f1": {k: round(v, 4) for k, v in dev_f1.items()}, "crf_weight": ensemble.crf_weight,
               "dev_f1_by_crf_weight": {str(w): round(f, 4) for w, f in by_weight.items()}}
    calibrate_ensemble(ensemble, combined, dev, section)
    return section
