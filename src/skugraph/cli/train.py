"""Training commands: ``pretrain`` (a masked-LM encoder) and the ``train`` group (fine-tuning)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from skugraph.cli.common import (
    AddressOption,
    OntologyOption,
    console,
    errors,
    friendly_errors,
    progress_bars,
)

app = typer.Typer()
train_app = typer.Typer(help="Fine-tune models on labelled data.", no_args_is_help=True)

TrainEngineOption = Annotated[str, typer.Option(help="local (this process; torchrun for several), or ray: --workers Ray Train workers (pip install skugraph\\[scale]).")]
ModelOutOption = Annotated[Path, typer.Option(help="Model directory to write.")]
TrainWorkersOption = Annotated[int, typer.Option(help="With --engine ray: training processes (data-parallel over gloo; each takes --batch-size per step).")]
#: judged substitutes below which `train substitutes` warns that its figures are rough
FEW_JUDGED = 100


@app.command()
def pretrain(
    corpus: Annotated[list[Path], typer.Option("--corpus", help="Text files: .txt (a text a line), .csv (--column), listings .jsonl.")],
    out: Annotated[Path, typer.Option(help="Model directory to write (Hugging Face format + skugraph.json).")],
    base_model: Annotated[str, typer.Option(help="scratch:tiny|small|base, a local checkpoint directory, or a hub id.")] = "scratch:small",
    time_budget: Annotated[float | None, typer.Option(help="Minutes of training.")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps (default with no budget: one pass).")] = None,
    mlm_probability: Annotated[float, typer.Option(help="Share of words masked.")] = 0.15,
    whole_word_mask: Annotated[bool, typer.Option(help="Mask whole jieba words, not single tokens.")] = True,
    nsp: Annotated[bool, typer.Option(help="Also learn next-sentence prediction on multi-sentence texts.")] = False,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.")] = False,
    max_length: Annotated[int, typer.Option(help="Tokens per packed sequence.")] = 128,
    batch_size: Annotated[int, typer.Option(help="Sequences per process and step.")] = 64,
    learning_rate: Annotated[float | None, typer.Option(help="Peak rate (default 5e-4 scratch, 1e-4 continued).")] = None,
    vocab_size: Annotated[int, typer.Option(help="Tokenizer vocabulary when training from scratch.")] = 12_000,
    column: Annotated[str | None, typer.Option(help="CSV column with the text.")] = None,
    precision: Annotated[str, typer.Option(help="auto (bf16 where the CPU has it), bf16 or fp32.")] = "auto",
    seed: int = 42,
    engine: TrainEngineOption = "local",
    workers: TrainWorkersOption = 2,
    address: AddressOption = "local",
) -> None:
    """Pretrain a masked-LM encoder on product text (on several processes: torchrun, or --engine ray)."""
    from skugraph.lm.pretrain import PretrainConfig
    from skugraph.scale import train_model

    config = PretrainConfig(
        corpus=corpus, out=out, base_model=base_model, time_budget_minutes=time_budget, steps=steps,
        mlm_probability=mlm_probability, whole_word_mask=whole_word_mask, nsp=nsp, resume=resume,
        max_length=max_length, batch_size=batch_size, learning_rate=learning_rate, vocab_size=vocab_size,
        column=column, precision=precision, seed=seed,
    )
    worker = os.environ.get("RANK", "0") != "0"  # under torchrun only the first process reports
    with friendly_errors(), progress_bars(disable=worker) as start:
        status = f"on {workers} Ray Train workers…" if engine == "ray" else "preparing corpus…"
        meta = train_model("pretrain", config, engine, workers, address, progress=start("pretrain", status=status))
    if meta:
        console.print(
            f"pretrained {meta['steps']} steps, {meta['tokens_seen']:,} tokens in {meta['train_seconds']} s "
            f"({meta['tokens_per_second']:,} tokens/s, {meta['precision']}); held-out MLM loss {meta['heldout_loss']} "
            f"(perplexity {meta['heldout_perplexity']}) → {out}"
        )


@app.command()
def distill(
    teacher: Annotated[Path, typer.Option(help="The tagger directory to distil (e.g. from `skugraph train tagger`).")],
    unlabelled: Annotated[Path, typer.Option(help="Your own texts: .txt a text a line, .csv (--column), listings .jsonl.")],
    out: ModelOutOption,
    student: Annotated[str, typer.Option(help="network (the teacher's first layers) or crf (the character CRF alone: fastest).")] = "network",
    layers: Annotated[int, typer.Option(help="A network student's encoder layers (the teacher's first ones).")] = 2,
    dev: Annotated[Path | None, typer.Option(help="Labelled dev texts: the kept epoch (CRF: with or without the teacher's tags), the CRF member's weight, calibration.")] = None,
    train: Annotated[Path | None, typer.Option(help="Labelled training texts: a gold loss beside the teacher's (CRF: their gold tags).")] = None,
    targets: Annotated[str, typer.Option(help="ensemble (the teacher's averaged marginals) or network (its network's).")] = "ensemble",
    crf_member: Annotated[bool, typer.Option(help="Keep the teacher's CRF member beside the student.")] = True,
    int8: Annotated[bool, typer.Option(help="Also export tagger.onnx and tagger.int8.onnx (runtime onnx-int8).")] = False,
    limit: Annotated[int, typer.Option(help="At most this many unlabelled texts (a random sample).")] = 20_000,
    column: Annotated[str | None, typer.Option(help="CSV column of the unlabelled texts.")] = None,
    epochs: int = 20,
    time_budget: Annotated[float | None, typer.Option(help="Minutes of student training at most.")] = None,
) -> None:
    """Distil a tagger into a smaller, faster student taught by it over your unlabelled texts."""
    from skugraph.tagging.distill import DistillConfig
    from skugraph.tagging.distill import distill as run

    config = DistillConfig(teacher=teacher, unlabelled=unlabelled, out=out, student=student, layers=layers, dev=dev, train=train, targets=targets,
                           keep_crf=crf_member, int8=int8, limit=limit, column=column, epochs=epochs, time_budget_minutes=time_budget)
    with friendly_errors(), progress_bars() as start:
        section = run(config, progress=_with_epoch_lines(start("distill"))).record
    teacher_f1, f1 = section["teacher"]["dev_f1"], section["dev_f1"]
    scores = f"; dev F1 teacher {teacher_f1:.4f}, student {f1:.4f}" if f1 is not None else ""
    shape = (f"{section['teacher']['layers']} → {layers} layers" if student == "network"
             else f"{section['teacher']['layers']} layers → a CRF alone")
    epoch = f", best epoch {section['best_epoch']}" if "best_epoch" in section else ""
    console.print(f"distilled {shape} on {section['unlabelled']['texts']} texts "
                  f"in {section['seconds']:.0f} s{epoch}{scores} → {out}")


@train_app.command("tagger")
def train_tagger_command(
    train: Annotated[Path, typer.Option(help="Labelled training texts.")],
    out: Annotated[Path, typer.Option(help="Tagger directory to write.")],
    dev: Annotated[Path | None, typer.Option(help="Labelled dev texts: early stopping and calibration.")] = None,
    format: Annotated[str | None, typer.Option("--format", help="bio | bieos | jsonl | label-studio (default: from the file name).")] = None,
    base_model: Annotated[str, typer.Option(help="Encoder: a model directory (e.g. from `skugraph pretrain`), minilm, a hub id, or scratch:tiny|small|base.")] = "scratch:small",
    random_init: Annotated[bool, typer.Option(help="The base model's shape and tokenizer with fresh weights.")] = False,
    epochs: int = 30,
    batch_size: int = 32,
    learning_rate: Annotated[float | None, typer.Option(help="Encoder rate (default 1e-4 pretrained, 5e-4 fresh).")] = None,
    head_learning_rate: Annotated[float, typer.Option(help="Rate of the new layers (the CRF gets 10x).")] = 2e-3,
    weight_decay: float = 0.01,
    warmup: Annotated[float, typer.Option(help="Share of steps spent warming up.")] = 0.1,
    dropout: float = 0.1,
    patience: Annotated[int, typer.Option(help="Epochs without a better dev F1 before stopping.")] = 5,
    freeze_layers: Annotated[int, typer.Option(help="Keep the embeddings and the lower N layers fixed.")] = 0,
    lora: Annotated[int, typer.Option(help="LoRA rank (0: no adapters).")] = 0,
    lora_method: Annotated[str, typer.Option(help="lora or adalora.")] = "lora",
    crf: Annotated[bool, typer.Option(help="A CRF layer on top (constrained decoding either way).")] = True,
    crf_member: Annotated[bool, typer.Option(help="With --dev: also train a character CRF (crfsuite) beside the network and keep their ensemble when it scores higher on dev.")] = True,
    ngrams: Annotated[bool, typer.Option(help="Character-bigram embeddings beside the encoder.")] = False,
    lexicon: Annotated[list[str] | None, typer.Option(help="Gazetteer NAME=FILE[,FILE]; NAME an entity type also feeds substitution.")] = None,
    substitute: Annotated[float, typer.Option(help="Augmentation: chance to swap a mention for another of its type.")] = 0.0,
    synonyms: Annotated[float, typer.Option(help="Augmentation: chance to swap a synonym outside mentions.")] = 0.0,
    synonyms_file: Annotated[Path | None, typer.Option(help="Synonym groups, one a line (default: the packaged list).")] = None,
    mention_dropout: Annotated[float, typer.Option(help="Augmentation: chance to delete a mention.")] = 0.0,
    window: Annotated[int, typer.Option(help="Tokens per window; longer texts are windowed, never cut.")] = 128,
    stride: int = 64,
    word_features: Annotated[bool, typer.Option(help="jieba's word boundaries (its dictionary plus the --lexicon words) as features.")] = True,
    unlabelled: Annotated[Path | None, typer.Option(help="Your own unlabelled texts (.txt a text a line, listings .jsonl, .csv): self-train on the model's surest labels of them, kept when dev scores it higher (needs --dev).")] = None,
    unlabelled_share: Annotated[float, typer.Option(help="Share of the pseudo-labelled texts kept, most certain first.")] = 0.5,
    unlabelled_limit: Annotated[int, typer.Option(help="At most this many unlabelled texts (a random sample of them).")] = 20_000,
    unlabelled_column: Annotated[str | None, typer.Option(help="CSV column of the unlabelled texts.")] = None,
    networks: Annotated[int, typer.Option(help="With --dev: networks (the same set-up, other seeds) averaged with the CRF member; the others are kept when dev scores their ensemble higher.")] = 3,
    fact_calibration: Annotated[bool, typer.Option(help="With --dev: calibrate the confidences of the facts the model makes on the dev texts (fact-calibration.json in OUT, applied whenever the model extracts).")] = True,
    time_budget: Annotated[float | None, typer.Option(help="Minutes of training at most.")] = None,
    precision: Annotated[str, typer.Option(help="auto (bf16 where the CPU has it), bf16 or fp32.")] = "auto",
    seed: int = 42,
    engine: TrainEngineOption = "local",
    workers: TrainWorkersOption = 2,
    address: AddressOption = "local",
) -> None:
    """Fine-tune a tagger for entities and attributes (any tag set: it is read from the data)."""
    from skugraph.scale import train_model
    from skugraph.tagging.augment import AugmentConfig
    from skugraph.tagging.lexicon import lexicon_files
    from skugraph.tagging.train import TrainTaggerConfig

    with friendly_errors(), progress_bars() as start:
        augment = AugmentConfig(substitute=substitute, synonyms=synonyms, mention_dropout=mention_dropout)
        config = TrainTaggerConfig(
            train=train, out=out, dev=dev, format=format, base_model=base_model, random_init=random_init, epochs=epochs,
            batch_size=batch_size, learning_rate=learning_rate, head_learning_rate=head_learning_rate,
            weight_decay=weight_decay, warmup=warmup, dropout=dropout, patience=patience, freeze_layers=freeze_layers,
            lora=lora, lora_method=lora_method, crf=crf, crf_member=crf_member, ngrams=ngrams, lexicons=lexicon_files(lexicon or []),
            augment=augment,
            synonyms=synonyms_file, window=window, stride=stride, time_budget_minutes=time_budget, precision=precision, seed=seed,
            word_features=word_features,
        )

        progress = _with_epoch_lines(start("train tagger"))

        def run(settings: TrainTaggerConfig) -> dict:
            return train_model("tagger", settings, engine, workers, address, progress=progress)

        if unlabelled:
            from skugraph.tagging.self_training import SelfTrainingConfig, self_train

            meta = self_train(config, SelfTrainingConfig(unlabelled, unlabelled_column, unlabelled_share, unlabelled_limit), run)
        else:
            meta = run(config)
        if dev:
            from skugraph.tagging.train import train_networks

            if many := train_networks(config, networks, run):
                meta["ensemble"]["networks"] = many
    for message in meta["skipped_records"][:10]:
        errors.print(f"[yellow]skipped[/] {message}")
    processes = f", {meta['processes']} processes" if meta.get("processes", 1) > 1 else ""
    console.print(f"trained {meta['epochs_run']} epochs in {meta['train_seconds']:.0f} s (best epoch {meta['best_epoch']}, "
                  f"{meta['precision']}{processes}) → {out}")
    if meta["dev_report"]:
        micro = meta["dev_report"]["micro"]
        console.print(f"dev strict entity micro P {micro['precision']:.4f}  R {micro['recall']:.4f}  F1 {micro['f1']:.4f}")
    if meta.get("calibration"):
        c = meta["calibration"]
        console.print(f"calibration: temperature {c['temperature']}, expected calibration error {c['ece_uncalibrated']} → {c['ece_calibrated']}")
    if meta.get("ensemble"):
        ensemble, f1 = meta["ensemble"], meta["ensemble"]["dev_f1"]
        console.print(f"dev F1: network {f1['neural']:.4f}, character CRF {f1['crf']:.4f}, their ensemble {f1['ensemble']:.4f}"
                      f" (the CRF's weight {ensemble.get('crf_weight', 0.5)})"
                      f" → the model is {'the ensemble' if ensemble['use'] else 'the network alone'}")
        if ensemble.get("networks"):
            many = ensemble["networks"]
            console.print(f"dev F1 with {len(many['seeds']) + 1} networks: {many['dev_f1']['all']:.4f} (one: {many['dev_f1']['one']:.4f})"
                          f" → {'kept' if many['use'] else 'not kept'}")
        scorer = ensemble.get("span_scorer", {}).get("dev", {})
        if ensemble["use"] and "brier" in scorer:
            kept = scorer["recall_at_precision_0.90"]
            console.print(f"span scorer (cross-fitted on dev): right spans kept at precision 0.90 {kept['chain']:.1%} → "
                          f"{kept['scorer']:.1%}, ECE {scorer['ece']['chain']} → {scorer['ece']['scorer']}"
                          f" → {'kept' if scorer['kept'] else 'not kept'}")
    if meta.get("self_training"):
        from skugraph.tagging.self_training import describe

        console.print(describe(meta["self_training"]))
    if dev and fact_calibration and os.environ.get("RANK", "0") == "0":
        _calibrate_facts(out, dev, format)


def _calibrate_facts(model: Path, dev: Path, format: str | None) -> None:
    """Fit and save the model's fact calibration on the dev texts; say what it measured."""
    from skugraph.corpus.ner import read_labelled
    from skugraph.fact_scores import calibrate_tagger

    try:
        fitted = calibrate_tagger(model, read_labelled(dev, format, on_error=lambda _: None))
    except ValueError as error:  # too few facts, or all right / all wrong: nothing to fit
        errors.print(f"[yellow]fact calibration skipped[/]: {error}")
        return
    console.print(fitted.describe(), highlight=False)


def _first_skipped(shown: int) -> Callable[[str], None]:
    """An ``on_error`` that prints the first ``shown`` skipped records."""
    count = 0

    def skipped(message: str) -> None:
        nonlocal count
        count += 1
        if count <= shown:
            errors.print(f"[yellow]skipped[/] {message}")

    return skipped


def _with_epoch_lines(advance: Callable[[dict], None]) -> Callable[[dict], None]:
    """A training ``progress`` callback: every record moves the bar, an epoch's end also prints its line."""

    def report(record: dict) -> None:
        advance(record)
        if "epoch" in record:
            dev_text = f"  dev F1 {record['dev_f1']:.4f}" if "dev_f1" in record else ""
            errors.print(f"epoch {record['epoch']:>3}  loss {record['loss']:.4f}{dev_text}  {record['seconds']} s")

    return report


@train_app.command("opinions")
def train_opinions_command(
    reviews: Annotated[Path, typer.Option(help="Reviews CSV (id,Reviews).")],
    labels: Annotated[Path, typer.Option(help="Tuples CSV (id,AspectTerms,A_start,A_end,OpinionTerms,O_start,O_end,Categories,Polarities).")],
    out: ModelOutOption,
    base_model: Annotated[str, typer.Option(help="Encoder for the span tagger: a directory, minilm, or scratch:tiny|small.")] = "scratch:small",
    dev_every: Annotated[int, typer.Option(help="Every N-th review is dev (early stopping and the printed score).")] = 5,
    epochs: int = 20,
    patience: int = 4,
    minutes: Annotated[float | None, typer.Option(help="Time budget for each span tagger.")] = None,
    networks: Annotated[int, typer.Option(help="Span taggers (other seeds) averaged with the CRF member; kept if the dev tuples score better.")] = 3,
) -> None:
    """Train the review opinion extractor: aspect/opinion tagger, pairing, category and polarity."""
    from skugraph.corpus.split import hold_out
    from skugraph.facts.opinions import read_opinion_csv, train_opinion_extractor, tuple_scores

    with friendly_errors(), progress_bars() as start:
        train, dev = hold_out(read_opinion_csv(reviews, labels), dev_every)
        step = start("train opinions", epochs * networks)
        extractor = train_opinion_extractor(train, dev, out, base_model=base_model, epochs=epochs, patience=patience,
                                            time_budget_minutes=minutes, networks=networks, progress=step)
        scores = tuple_scores(dev, extractor.extract([r.text for r in dev]))
    console.print(f"opinion extractor → {out}: dev exact-tuple P {scores['precision']:.3f} R {scores['recall']:.3f} F1 {scores['f1']:.3f}"
                  f" ({len(train)} training reviews, {len(dev)} dev)")


@train_app.command("relations")
def train_relations_command(
    train: Annotated[Path, typer.Option(help="Labelled titles (BIO/BIEOS/JSONL/Label Studio): the distant training data.")],
    out: ModelOutOption,
    dev: Annotated[Path | None, typer.Option(help="Labelled titles for choosing the epoch (distant labels too).")] = None,
    format: Annotated[str | None, typer.Option(help="bio, bieos, jsonl or label-studio (default: from the file name).")] = None,
    base_model: Annotated[str, typer.Option(help="Encoder: a directory, minilm, or scratch:tiny|small.")] = "scratch:small",
    epochs: int = 3,
    attribute_share: Annotated[float, typer.Option(help="Share of attribute_of pairs kept (they outnumber the rest).")] = 0.25,
    minutes: Annotated[float | None, typer.Option(help="Time budget.")] = None,
    ontology: OntologyOption = None,
) -> None:
    """Train the relation classifier (entity markers) on pairs labelled by distant supervision."""
    from skugraph.facts.ontology import load_ontology
    from skugraph.facts.relations import TrainRelationsConfig, train_relations, training_examples

    with friendly_errors(), progress_bars() as start:
        pairs, held = training_examples(train, dev, format, load_ontology(ontology))
        step = start("train relations", epochs)
        config = TrainRelationsConfig(out=out, base_model=base_model, epochs=epochs, keep={"attribute_of": attribute_share},
                                      time_budget_minutes=minutes)
        classifier = train_relations(pairs, held, config, progress=step)
    scores = classifier.record.get("dev")
    console.print(f"relation classifier → {out} ({classifier.record['train_examples']} pairs)"
                  + (f": dev micro F1 {scores['micro']['f1']:.3f} against the distant labels" if scores else ""))


@train_app.command("matcher")
def train_matcher_command(
    train: Annotated[Path, typer.Option(help="Labelled offer pairs, Ditto format: left TAB right TAB label (COL attr VAL value …).")],
    out: ModelOutOption,
    valid: Annotated[Path | None, typer.Option(help="Pairs for choosing the epoch and the threshold.")] = None,
    base_model: Annotated[str, typer.Option(help="Encoder: a directory (e.g. from `skugraph pretrain`), minilm, or scratch:tiny|small.")] = "minilm",
    epochs: int = 10,
    max_length: Annotated[int, typer.Option(help="Tokens per pair.")] = 128,
    minutes: Annotated[float | None, typer.Option(help="Time budget in minutes, from the start: training stops after the step that passes it.")] = None,
) -> None:
    """Fine-tune the cross-encoder pair matcher used by `skugraph fuse --matcher`."""
    from skugraph.fusion.matching import TrainMatcherConfig, train_matcher, training_pairs

    with friendly_errors(), progress_bars() as start:
        pairs, held = training_pairs(train, valid, _first_skipped(20))
        step = start("train matcher", epochs)
        config = TrainMatcherConfig(out=out, base_model=base_model, epochs=epochs, max_length=max_length, time_budget_minutes=minutes)
        matcher = train_matcher(pairs, held, config, progress=step)
    score = matcher.record.get("valid")
    console.print(f"matcher → {out} ({len(pairs)} pairs, threshold {matcher.threshold:.3f})"
                  + (f": valid F1 {score['f1']:.3f} (P {score['precision']:.3f}, R {score['recall']:.3f})" if score else ""))


@train_app.command("sentiment")
def train_sentiment_command(
    data: Annotated[Path, typer.Argument(help="Labelled reviews: CSV with label and review (or text) columns, or JSONL {text, label}.")],
    out: ModelOutOption,
    dev_every: Annotated[int, typer.Option(help="Every N-th review is dev (the printed score); 0 trains on all.")] = 5,
) -> None:
    """Train the review sentiment classifier (character n-grams, logistic regression)."""
    from skugraph.corpus.split import hold_out
    from skugraph.facts.sentiment import accuracy, read_sentiment_file, train_sentiment

    with friendly_errors():
        rows, held = hold_out(read_sentiment_file(data), dev_every)
        model = train_sentiment(rows, out)
    message = f"sentiment classifier → {out} ({len(rows)} reviews, labels {', '.join(model.labels)})"
    if held:
        message += f": dev accuracy {accuracy(model, held):.3f} on {len(held)}"
    console.print(message)


@train_app.command("substitutes")
def train_substitutes_command(
    judged: Annotated[list[Path], typer.Argument(help="Substitutes files (`skugraph inventory --substitutes-out`) with \"ok\": true or false added to each substitute judged.")],
    out: ModelOutOption,
    precision: Annotated[float | None, typer.Option(min=0.5, max=0.99, help="The precision the pairs a threshold keeps must surely reach out of fold (default 0.9).")] = None,
    confidence: Annotated[float | None, typer.Option(min=0.0, max=0.99, help="How sure: the Wilson interval whose lower end must reach the precision (default 0.9; 0 takes the precision itself).")] = None,
) -> None:
    """Learn which substitutes are accepted from judged ones, for `skugraph inventory --substitute-model`."""
    from skugraph.apps.substitute_model import CONFIDENCE, PRECISION, learn_substitutes, read_judged

    with friendly_errors():
        model = learn_substitutes(read_judged(judged), precision or PRECISION, confidence=CONFIDENCE if confidence is None else confidence)
        model.save(out)
    record = model.record
    held = record["out_of_fold"]
    console.print(f"substitute model → {out} ({record['pairs']} judged pairs, {record['right']} right): threshold {model.threshold:.3f} "
                  f"keeps {held['kept']:.0%} of the pairs at precision {held['precision']:.3f} out of fold, surely at least "
                  f"{held['surely_at_least']:.3f} (all pairs {held['precision_of_all']:.3f}, AUC {held['auc']:.3f})", highlight=False)
    if not record["reached"]:
        console.print(f"[yellow]no threshold surely reaches precision {record['target_precision']:g} out of fold (the lower end of its "
                      f"{record['confidence']:.0%} Wilson interval): the model keeps what surely reaches the most; judge more "
                      "stock-outs (some 25 pairs in a row right at the top of the ranking are needed for 0.9)[/]", highlight=False)
    if record["pairs"] < FEW_JUDGED:
        console.print(f"[yellow]{record['pairs']} judged pairs are few: the figures out of fold are rough (a few hundred make them "
                      "steadier)[/]", highlight=False)
