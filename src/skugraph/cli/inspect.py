"""Commands that read a graph: query, stats, ontology, show, history, explain, aspects, search,
recommend, inventory, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from skugraph.cli.common import (
    DEFAULT_DB,
    DbOption,
    TaggerOption,
    console,
    existing,
    fail,
    friendly_errors,
    print_card,
    print_json,
    print_result,
    read_graph,
    require_products,
)

app = typer.Typer()


def _parse_param(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise typer.BadParameter(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


@app.command()
def query(
    cypher: Annotated[str, typer.Argument(help="Cypher; pass values with --param, never pasted into the text.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE (VALUE as JSON if it parses).")] = None,
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON objects.")] = False,
) -> None:
    """Run a parameterised Cypher query and print the result as a table."""
    parameters = dict(_parse_param(p) for p in param or [])
    with read_graph(db) as store:
        result = store.query(cypher, parameters)
    if as_json:
        console.print_json(json.dumps(result.records(), ensure_ascii=False))
    else:
        print_result(result)


@app.command()
def stats(
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="Print {nodes: {label: n}, edges: {type: n}, delisted: {Product: n, Listing: n}, confidence: {all: {facts, expected_precision, expected_wrong, calibrated, calibration}, inferred: {facts, …}, predicates: {predicate or 'predicate (inferred)': {…}}}}.")] = False,
) -> None:
    """Count nodes per label (products and listings on the market; those delisted, kept for their
    history, apart) and edges per type; and the graph's expected precision, the mean
    confidence of its facts (overall and per predicate), with the facts expected wrong and
    whether the confidences are calibrated probabilities."""
    from skugraph.graph.store import NOT_READ, inferred_facts, market_stats, read_facts

    with read_graph(db) as store:
        counts, confidences = market_stats(store), store.confidences()
    if as_json:
        print(json.dumps(counts, ensure_ascii=False, sort_keys=True))
        return
    for kind in ("nodes", "edges"):
        table = Table(title=kind, title_justify="left")
        table.add_column("label" if kind == "nodes" else "type")
        table.add_column("count", justify="right")
        for name, count in counts[kind].items():
            table.add_row(name, str(count))
        if kind == "nodes":
            for name, count in counts["delisted"].items():
                if count:
                    table.add_row(f"{name} (delisted)", str(count))
        console.print(table)
    table = Table(title="confidence per predicate", title_justify="left")
    for column in ("predicate", "facts", "expected precision", "expected wrong", "calibrated"):
        table.add_column(column, justify="left" if column == "predicate" else "right")
    for name, found in sorted(confidences.items(), key=lambda item: -item[1].facts):
        table.add_row(name, str(found.facts), f"{found.expected_precision:.3f}", f"{found.expected_wrong:.1f}", str(found.calibrated))
    console.print(table)
    overall, inferred = read_facts(confidences), inferred_facts(confidences)
    if overall.facts:
        console.print(f"expected precision {overall.expected_precision:.3f} over the {overall.facts} facts read from text "
                      f"(all but {', '.join(NOT_READ)} and those inferred) "
                      f"(about {overall.expected_wrong:.0f} wrong); {overall.calibration}", highlight=False)
    if inferred.facts:
        console.print(f"{inferred.facts} facts inferred by KG completion, read in no listing: expected precision "
                      f"{inferred.expected_precision:.3f} (about {inferred.expected_wrong:.0f} wrong)", highlight=False)


@app.command("ontology")
def ontology_command(
    path: Annotated[Path | None, typer.Argument(help="An ontology file to check (default: the packaged one).")] = None,
) -> None:
    """Check an ontology file and show its attribute kinds, predicates and label mapping."""
    from skugraph.facts.ontology import load_ontology

    with friendly_errors():
        onto = load_ontology(path)
    console.print(f"[green]ok[/] {onto.source}: {len(onto.attribute_kinds)} attribute kinds, {len(onto.predicates)} predicates, "
                  f"{len(onto.categories)} category rules, {len(onto.labels)} mention labels")
    table = Table(title="predicates", title_justify="left")
    for column in ("predicate", "relation", "from", "to"):
        table.add_column(column)
    for spec in onto.predicates.values():
        table.add_row(spec.name, spec.relation, spec.subject, " | ".join(spec.objects))
    table.add_row("<attribute kind>", "HAS_VALUE", "Product", "Value")
    console.print(table)
    labels = Table(title="mention labels", title_justify="left")
    labels.add_column("label")
    labels.add_column("becomes")
    for label, meaning in onto.labels.items():
        labels.add_row(label, meaning + (f" ({onto.attribute_kinds[meaning]})" if meaning in onto.attribute_kinds else ""))
    console.print(labels)


@app.command()
def show(
    product: Annotated[str, typer.Argument(help="A product id, or a listing id (its product).")],
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="Print the card as JSON.")] = False,
) -> None:
    """A product as the graph knows it: type, brand, attributes, links, aspects, each with its evidence."""
    from skugraph.graph.cards import product_card, product_of

    with read_graph(db) as store:
        card = existing(product_card(store, product_of(store, product) or product), f"no product {product!r} in {db}")
    if as_json:
        print_json(card)
    else:
        print_card(card)


@app.command()
def history(
    product: Annotated[str, typer.Argument(help="A product id, or a listing id (its product).")],
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """A product's values over time: what it holds now (since when) and what ended (retracted
    facts, its listings' old prices and titles), each with the listings that said it."""
    from skugraph.graph.cards import history as product_history

    with read_graph(db) as store:
        found = existing(product_history(store, product), f"no product or listing {product!r} in {db}")
    if as_json:
        print_json(found)
        return
    table = Table(title=f"{found['product']}: {len(found['listings'])} listing(s)", title_justify="left")
    for column in ("of", "attribute", "value", "from", "to", "sources"):
        table.add_column(column, overflow="fold")
    for row in found["history"]:
        since = str(row["valid_from"] or "?")[:16].replace("T", " ")
        until = str(row["valid_to"])[:16].replace("T", " ") if row["valid_to"] else "[green]now[/]"
        table.add_row(row["subject"], row["attribute"], row["value"], since, until, ", ".join(row["sources"]))
    console.print(table)


@app.command()
def explain(
    product: Annotated[str, typer.Argument(help="A product id.")],
    attribute: Annotated[str | None, typer.Argument(help="One attribute kind (colour, capacity …); default: all.")] = None,
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="Print the values as JSON.")] = False,
) -> None:
    """Why the graph says what it says about a product: which listings were merged into it and
    why, and the evidence behind each attribute value (the chosen one and the alternatives).
    A listing id explains the product that listing offers."""
    from skugraph.graph.cards import explain as explain_product

    with read_graph(db) as store:
        found = existing(explain_product(store, product, attribute), f"no product or listing {product!r} in {db}")
    if as_json:
        print_json(found)
        return
    console.rule(f"[bold]{found['product']}[/]  {found['title']}")
    console.print(f"{len(found['listings'])} listing(s):", highlight=False)
    for offer in found["listings"]:
        console.print(f"  {offer['listing']}  {offer['title']}  [dim]{offer['source'] or ''} {offer['price'] or ''}: "
                      f"{offer['evidence']}[/]", highlight=False)
    for row in found["brands"]:
        names = f" ({', '.join(row['aliases'])})" if row["aliases"] else ""
        why = f"{row['why']}; " if row["why"] else ""
        console.print(f"{'brand':<14} {row['brand']}{names}  [dim]confidence {row['confidence']:.2f}: {why}"
                      f"{'; '.join(row['evidence'])}[/]", highlight=False)
    if not found["values"] and not found["brands"]:
        console.print(f"no {attribute or 'attribute'} values")
    for row in found["values"]:
        mark = "[green]chosen[/]     " if row["chosen"] else "[yellow]inferred[/]   " if row["inferred"] else "alternative"
        console.print(f"{row['attribute']:<14} {mark} {row['value']}  [dim]support {row['support']:.2f}, confidence "
                      f"{row['confidence']:.2f}: {'; '.join(row['evidence'])}[/]", highlight=False)


@app.command()
def aspects(
    product: Annotated[str | None, typer.Argument(help="A product id (default: every product).")] = None,
    db: DbOption = DEFAULT_DB,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON objects.")] = False,
) -> None:
    """What reviews say about each aspect of a product: reviews, positive, negative, share positive."""
    from skugraph.facts.opinions import aspect_summary
    from skugraph.graph.store import QueryResult

    with read_graph(db) as store:
        rows = aspect_summary(store, product)
    if as_json:
        print_json(rows)
        return
    columns = ["product", "aspect", "reviews", "positive", "negative", "other", "share_positive"]
    print_result(QueryResult(columns, [[row[c] for c in columns] for row in rows]))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for: 华为 手机壳 透明")],
    db: DbOption = DEFAULT_DB,
    tagger: TaggerOption = None,
    limit: int = 10,
    brand: Annotated[str | None, typer.Option(help="Only this brand: a name, alias or key (华为, HUAWEI, huawei).")] = None,
    fits: Annotated[str | None, typer.Option(help="Only products that fit this brand: a name, alias or key.")] = None,
    type: Annotated[str | None, typer.Option("--type", help="Only this product type: a name or key (手机壳).")] = None,
    colour: Annotated[str | None, typer.Option(help="Only this colour: a name or key (黑色).")] = None,
    price: Annotated[str | None, typer.Option(help="Only this price band (as the facets write it).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Search products: BM25 over their listings' text plus the brand, type, colour … read from the
    query and matched against the graph's facts; with facets."""
    from skugraph.graph.store import open_store
    from skugraph.serve.app import Services

    if not query.strip() and not any((brand, fits, type, colour, price)):
        fail("an empty query: say what to look for (华为 手机壳), or filter (--brand 华为)")
    with friendly_errors():
        with open_store(db, read_only=True) as store:
            require_products(store, db)
        services = Services.open(db, tagger)
        try:
            result = services.index.search(query, services.parser, limit,
                                           {"brand": brand, "fits": fits, "type": type, "colour": colour, "price": price})
        finally:
            services.store.close()
    if as_json:
        print_json(result.to_dict())
        return
    asked = ", ".join(f"{c.predicate} {c.name}" for c in result.constraints) or "none"
    console.print(f"read from the query: {asked}   {result.total} product(s)", highlight=False)
    for hint in result.hints:
        console.print(f"[yellow]{hint.replace('filter fits', '--fits')}[/]", highlight=False)
    table = Table(show_lines=False)
    for column in ("product", "title", "score", "matched", "price"):
        table.add_column(column, overflow="fold")
    for hit in result.hits:
        table.add_row(hit.id, hit.title, f"{hit.score:.3f}", ", ".join(hit.matched), "" if hit.price is None else f"{hit.price:g}")
    console.print(table)
    for facet, values in result.facets.items():
        shown = ", ".join(f"{v['name']} ({v['count']})" for v in values[:6])
        console.print(f"[dim]{facet}:[/] {shown}", highlight=False)


@app.command()
def recommend(
    product: Annotated[str, typer.Argument(help="A product (or listing) id.")],
    db: DbOption = DEFAULT_DB,
    k: Annotated[int, typer.Option(help="Products per list.")] = 5,
    kg_embeddings: Annotated[str | None, typer.Option(help="Also rank similar products by a PyKEEN model's embeddings (TransE, RotatE …).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the lists as JSON.")] = False,
) -> None:
    """Similar, complementary (accessories that fit it) and substitute products, each with a reason."""
    from skugraph.apps.recommend import Recommender
    from skugraph.apps.search import SearchIndex
    from skugraph.graph.cards import product_of

    with read_graph(db) as store:
        found = existing(product_of(store, product), f"no product or listing {product!r} in {db}")
        recommender = Recommender.from_index(SearchIndex.from_store(store))
    if kg_embeddings:
        recommender.learn_embeddings(kg_embeddings)
    lists = recommender.recommend(found, k)
    if as_json:
        print_json(lists)
        return
    for kind, items in lists.items():
        console.rule(f"[bold]{kind}")
        for item in items:
            console.print(f"{item['id']}  {item['title']}  [dim]{item['reason']}[/]", highlight=False)
        if not items:
            console.print("[dim]none[/]")


@app.command()
def inventory(
    db: DbOption = DEFAULT_DB,
    limit: Annotated[int, typer.Option(min=1, help="Rows per list.")] = 10,
    low_days: Annotated[float, typer.Option(min=0.0, help="In stock but under this many days of cover: low.")] = 7.0,
    excess_days: Annotated[float, typer.Option(min=0.0, help="Stock for more days than this: excess (slow movers, reallocation).")] = 90.0,
    title_floor: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="How alike a substitute's title must be, 0 to 1 (default 0.15): higher gives fewer and surer substitutes.")] = None,
    substitute_model: Annotated[Path | None, typer.Option(help="Keep the substitutes this model accepts (`skugraph train substitutes`).")] = None,
    substitutes_out: Annotated[Path | None, typer.Option(help="Also write each stock-out (the --limit fastest sellers) with its substitutes here, one JSON line, to judge (add \"ok\": true or false to each) and learn from.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the inventory as JSON.")] = False,
    per_product: Annotated[bool, typer.Option(help="With --json: every product's stock, sales, days of cover and places too.")] = False,
) -> None:
    """Stock and demand per product over its listings, with days of cover: stock-outs with
    in-stock substitutes, accessories against their devices' sales, slow movers by attribute,
    reallocation hints across warehouses."""
    from skugraph.apps.inventory import PRICE_BAND, accessory_line, has_stock, write_substitutes
    from skugraph.apps.inventory import inventory as inventory_of
    from skugraph.apps.recommend import Recommender
    from skugraph.apps.substitute_model import SubstituteModel

    if per_product and not as_json:
        fail("--per-product lists every product in the JSON: give --json too")
    if substitute_model and substitutes_out:
        fail("--substitutes-out writes substitutes to judge: leave --substitute-model off, so that they are the recommender's "
             "own and the judges do not see the model's calls")
    with friendly_errors():
        model = SubstituteModel.load(substitute_model) if substitute_model else None

    with read_graph(db) as store:
        require_products(store, db)
        if not has_stock(store):
            fail(f"no listing in {db} gives stock or sales: ingest listings with stock, sales (sales_from, sales_to) "
                 "and warehouse fields, and load them")
        recommender = Recommender.from_store(store)
        if title_floor is not None:
            recommender.title_floor = title_floor
        found = inventory_of(store, recommender, limit=limit, low_days=low_days, excess_days=excess_days, model=model)
        written = write_substitutes(found, recommender, substitutes_out) if substitutes_out else None
    if as_json:
        print_json(found.to_dict(per_product))
        return
    console.print(found.summary(), highlight=False)
    if model is not None:
        console.print(f"substitutes kept where the model {substitute_model} accepts them (probability {model.threshold:.2f} or more)",
                      highlight=False)
    if written is not None:
        console.print(f"{written} stock-outs with their substitutes → {substitutes_out}: add \"ok\": true or false to each "
                      "substitute, then `skugraph train substitutes`", highlight=False)
    data = found.to_dict()
    sections = [
        ("out of stock, the fastest sellers first", [
            (s["id"], s["title"], _num(s["daily_sales"]), "\n".join(f"{x['id']} {x['title']}: {x['reason']}" for x in s["substitutes"])
             or f"no substitute in stock (priced within {PRICE_BAND:g}× of this one, titles alike)") for s in data["stock_outs"]], ("product", "title", "sold/day", "substitutes")),
        (f"under {low_days:g} days of cover", [(p["id"], p["title"], str(p["stock"]), _num(p["daily_sales"]), _num(p["days_of_cover"]))
                                               for p in data["low"]], ("product", "title", "stock", "sold/day", "days")),
        ("accessories of selling devices", [
            (d["id"], d["title"], _num(d["daily_sales"]), "\n".join(accessory_line(a) for a in d["accessories"]))
            for d in data["accessories"]], ("device", "title", "sold/day", "accessories")),
        ("slow movers", [(s["type"], f"{s['attribute']} {s['value']}", str(s["stock"]), _num(s["days_of_cover"]) or "no sales",
                          _num(s["type_days_of_cover"]))
                         for s in data["slow_movers"]], ("type", "value", "stock", "days", "type's days")),
        ("reallocation hints", [(r["product"], r["title"], f"{r['move']} from {r['source']} to {r['target']}", r["reason"])
                                for r in data["reallocations"]], ("product", "title", "move", "why")),
    ]
    for title, rows, columns in sections:
        console.rule(f"[bold]{title}")
        if not rows:
            console.print("[dim]none[/]")
            continue
        table = Table(show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


@app.command()
def report(
    db: DbOption = DEFAULT_DB,
    out: Annotated[Path, typer.Option(help="The HTML page to write.")] = Path("report.html"),
    substitute_model: Annotated[Path | None, typer.Option(help="The inventory keeps the substitutes this model accepts (`skugraph train substitutes`).")] = None,
) -> None:
    """Market analysis as one self-contained HTML page: brand share per category, attribute values,
    price bands, ratings and aspect sentiment, and the inventory where listings give stock."""
    from skugraph.apps.analytics import market_report, report_html
    from skugraph.apps.substitute_model import SubstituteModel

    with friendly_errors():
        model = SubstituteModel.load(substitute_model) if substitute_model else None
    with read_graph(db) as store:
        require_products(store, db)
        data = market_report(store, model=model)
    out.write_text(report_html(data), encoding="utf-8")
    s = data["summary"]
    console.print(f"wrote {out}: {s['products']} products, brand share in {len(data['brand_share'])} groups by "
                  f"{data['brand_share_by']}, {len(data['attributes'])} attributes, {len(data['aspects'])} aspect rows", highlight=False)
    for section, why in data["notes"].items():
        console.print(f"[dim]{section}: {why}[/]", highlight=False)
