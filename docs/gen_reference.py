"""Reference pages generated from the code: the CLI from the Typer app, the graph schema
from the ontology. Nothing here is kept by hand, so the pages cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from skugraph.facts.ontology import DEFAULT_ONTOLOGY, load_ontology
from skugraph.graph.schema import CHANGE, EDGE_PROPERTIES, NODE_TABLES, relation_tables

#: options every Typer app gets; they say nothing about skugraph
SKIPPED_OPTIONS = frozenset({"install_completion", "show_completion"})


def cli_reference(app: typer.Typer, name: str = "skugraph") -> str:
    """Markdown for every command of ``app``: its help, usage, arguments and options."""
    command = typer.main.get_command(app)
    context = typer.Context(command, info_name=name)
    return "# Command line\n\n" + "\n".join(_command_docs(command, context, name, level=2)) + "\n"


def _command_docs(command: typer.core.TyperCommand, context: typer.Context, path: str, level: int) -> list[str]:
    lines = [f"{'#' * level} `{path}`", ""]
    if command.help:
        lines += [command.help.strip(), ""]
    lines += ["```console", f"$ {path} {' '.join(command.collect_usage_pieces(context))}", "```", ""]
    for kind, title in (("argument", "Arguments"), ("option", "Options")):
        records = [param.get_help_record(context) for param in command.get_params(context)
                   if param.param_type_name == kind and param.name not in SKIPPED_OPTIONS and param.name != "help"]
        records = [record for record in records if record]
        if records:
            lines += [f"**{title}**", ""]
            lines += [f"- `{names}`" + (f": {text}" if text else "") for names, text in records]
            lines.append("")
    if hasattr(command, "list_commands"):  # a group (Typer bundles its own click)
        names = [n for n in command.list_commands(context) if not command.get_command(context, n).hidden]
        if level == 2 and names:
            lines += ["**Commands**", ""]
            lines += [f"- [`{n}`](#{_anchor(f'{path} {n}')}): {_first_line(command.get_command(context, n))}"
                      for n in names]
            lines.append("")
        for sub_name in names:
            sub = command.get_command(context, sub_name)
            sub_context = typer.Context(sub, info_name=sub_name, parent=context)
            lines += _command_docs(sub, sub_context, f"{path} {sub_name}", level + (level > 1))
    return lines


def _first_line(command: typer.core.TyperCommand) -> str:
    return command.get_short_help_str(limit=300)


def _anchor(heading: str) -> str:
    """The id MkDocs (toc's default slugify) gives a heading: lower case, spaces to hyphens."""
    return "-".join(heading.lower().split())


def schema_reference(path: Path = DEFAULT_ONTOLOGY) -> str:
    """Markdown for the graph schema: node tables, relationship tables and the ontology's
    predicates and attribute kinds, with the descriptions the ontology file gives them."""
    ontology = load_ontology(path)
    described = yaml.safe_load(path.read_text(encoding="utf-8"))
    node_notes = {CHANGE: "a value that ended: a retracted edge or a listing's old title, price, currency or category, "
                          "with when it held and the listings that said it (skugraph history)",
                  **described.get("node_labels", {})}
    kind_notes = {kind: spec.get("description", "") for kind, spec in described.get("attribute_kinds", {}).items()
                  if isinstance(spec, dict)}
    out = ["# Graph schema", "",
           f"Generated from the ontology (`{path.name}`) and `skugraph.graph.schema`. "
           "An edited ontology (`--ontology FILE`) changes the relationship tables and predicates.", "",
           "## Node tables", "", "`id` is each table's primary key.", "",
           "| table | properties | what it is |", "|---|---|---|"]
    out += [f"| `{label}` | {_columns(columns)} | {node_notes.get(label, '')} |"
            for label, columns in NODE_TABLES.items()]
    out += ["", "## Relationship tables", "",
            f"Every relationship carries {_columns(EDGE_PROPERTIES)}; the table shows the properties "
            "a relationship adds to those.", "",
            "| table | from → to | added properties | predicates |", "|---|---|---|---|"]
    predicates_of: dict[str, list[str]] = {}
    for predicate in ontology.predicates.values():
        predicates_of.setdefault(predicate.relation, []).append(f"`{predicate.name}`")
    for table in relation_tables(ontology):
        ends = ", ".join(f"{a} → {b}" for a, b in table.pairs)
        names = predicates_of.get(table.name) or ["every attribute kind"]
        out.append(f"| `{table.name}` | {ends} | {_columns(table.properties) or '—'} | {', '.join(names)} |")
    out += ["", "## Predicates", "",
            "| predicate | relationship | subject → objects | what it says |", "|---|---|---|---|"]
    out += [f"| `{p.name}` | `{p.relation}` | {p.subject} → {' / '.join(p.objects)} | {p.description} |"
            for p in ontology.predicates.values()]
    out += ["", "## Attribute kinds", "",
            "Each kind is also a predicate of `HAS_VALUE` (Product → Value). A mention label the ontology "
            "does not map becomes the kind `attr_<label>`.", "",
            "| kind | 中文 | what it is | applies to categories |", "|---|---|---|---|"]
    for kind, chinese in ontology.attribute_kinds.items():
        where = sorted(category for category, kinds in ontology.categories.items() if kind in kinds)
        applies = "all" if "*" in where else ", ".join(where)
        out.append(f"| `{kind}` | {chinese} | {kind_notes.get(kind, '')} | {applies} |")
    out += ["", "## Mention labels", "",
            "What a tagger's or the rules' label becomes: a role or an attribute kind.", "",
            "| label | becomes |", "|---|---|"]
    out += [f"| `{label}` | `{meaning}` |" for label, meaning in ontology.labels.items()]
    return "\n".join(out) + "\n"


def _columns(columns: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"`{name}` {kind}" for name, kind in columns)
