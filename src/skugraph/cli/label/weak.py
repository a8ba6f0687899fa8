"""``skugraph label weak``: training data for a type no title is labelled with, from labelling functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from skugraph.cli.common import console, friendly_errors, print_rejected

app = typer.Typer()


@app.command()
def weak(
    listings: Annotated[Path, typer.Option(help="Listings (JSONL, CSV, Parquet) or a .txt file of titles, one a line.")],
    out: Annotated[Path, typer.Option(help="The weak labels as doccano JSONL (what `skugraph train tagger --train` reads).")],
    lexicon: Annotated[list[str] | None, typer.Option(help="KIND=FILE[,FILE]: a word list for a type (one word a line), matched leftmost-longest; repeat per type.")] = None,
    rules: Annotated[Path | None, typer.Option(help="Regular expressions by type: YAML (a list of {kind: size, pattern: '\\d+寸'}) or JSON lines ({\"kind\": …, \"pattern\": …} a line), over the NFKC-normalised, lower-cased title.")] = None,
    model: Annotated[Path | None, typer.Option(help="A tagger directory whose spans of these types vote too (JD's numeric types read through the ontology).")] = None,
    rule_extractor: Annotated[bool, typer.Option(help="The built-in rule extractor's mentions of these types vote too.")] = True,
    label_model: Annotated[str, typer.Option(help="dawid-skene (each function's reliability estimated from the agreements, no gold) or majority.")] = "dawid-skene",
    show: Annotated[int, typer.Option(min=0, help="Print this many weak-labelled titles.")] = 5,
) -> None:
    """Weak labels for types with no gold labels: lexicons, patterns, the rule extractor and a model vote, a label model decides."""
    from skugraph.corpus.ner import write_doccano
    from skugraph.labelling import weak as weakly
    from skugraph.labelling.suggest import read_titles
    from skugraph.tagging.lexicon import lexicon_files

    rejected: list[str] = []
    with friendly_errors():
        functions = weakly.labelling_functions(lexicon_files(lexicon or []), rules, rule_extractor, model)
        pairs = read_titles(listings, on_reject=lambda reject: rejected.append(str(reject)))
        if not pairs:
            raise ValueError(f"{listings}: no title to label")
        ids, titles = [listing for listing, _ in pairs], [title for _, title in pairs]
        result = weakly.weak_label(titles, functions, label_model, ids)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_doccano(result.texts, out)
    print_rejected(rejected, "listing(s)")
    table = Table(title=f"{len(titles)} titles, label model {label_model}", title_justify="left")
    for column in ("function", "titles", "tokens", "overlap", "conflict", "est. accuracy"):
        table.add_column(column, justify="left" if column == "function" else "right")
    for r in result.reports:
        table.add_row(r.name, *(f"{value:.1%}" for value in (r.titles, r.tokens, r.overlap, r.conflict, r.accuracy)))
    console.print(table)
    if result.overruled:
        console.print(f"{label_model} decided O on {result.overruled} of the {result.voted} characters a function voted a type on "
                      "(votes the others do not confirm); --label-model majority keeps every vote", highlight=False)
    labelled = sum(1 for item in result.texts if item.spans)
    console.print(f"{labelled} of {len(titles)} titles with a weak span ({', '.join(result.labels[1:])}) → {out}", highlight=False)
    for item in [item for item in result.texts if item.spans][:show]:
        console.print("  " + item.text + "  " + "  ".join(f"[{text}]{label}" for text, label in item.span_texts()),
                      highlight=False, markup=False)
