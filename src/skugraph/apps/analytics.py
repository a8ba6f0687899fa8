"""Market analysis from the graph: brand share per category, attribute value distributions,
price bands, review ratings and aspect sentiment per brand and category, and the inventory
(:mod:`skugraph.apps.inventory`) where the listings give stock or sales.

:func:`market_report` answers with plain data (the API serves it as JSON);
:func:`report_html` draws it as one self-contained page: inline SVG charts and tables, no
script and nothing fetched. A section the graph has no data for says why (``notes``: the
listings carry no category, no price, no reviews) instead of showing an empty heading; with
no categories, brand share is counted per product type instead.

Values are shown as the catalogue writes them (黑色), grouped by their canonical key (black).
"""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from skugraph.apps.prices import band_labels, band_of, price_bands
from skugraph.graph.store import GraphStore

if TYPE_CHECKING:
    from skugraph.apps.recommend import Recommender
    from skugraph.apps.substitute_model import SubstituteModel

TOP_CATEGORIES = 12
TOP_VALUES = 10
#: why a section is empty, by what the graph lacks
WHY = {
    "brand_share": "no product has both a brand and a category or product type, so there is no brand share to show",
    "attributes": "no attribute values were extracted from the listings",
    "prices": "the listings carry no price (no `price` field), so there are no price bands",
    "prices_by_category": "the listings carry no category (no `category` field), so prices are not broken down by category",
    "ratings": "the graph holds no reviews with a rating (the listings came without reviews)",
    "aspects": "the graph holds no review opinions (no reviews, or `skugraph extract` ran without --opinion-model)",
    "inventory": "the listings carry no stock or sales (no `stock` or `sales` fields), so there is no inventory to show",
}
#: rows per inventory list in the report
INVENTORY_ROWS = 10
NO_CATEGORY = "the listings carry no category (no `category` field), so brand share is counted per product type instead"


def market_report(store: GraphStore, recommender: Recommender | None = None, model: SubstituteModel | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain data, with ``notes``: section → why it is empty
    (or counted another way). ``recommender``: the graph's, for the inventory's substitutes
    (read from the graph when not given); ``model``: keeps the substitutes it accepts."""
    from skugraph.apps.inventory import has_stock, inventory
    from skugraph.apps.recommend import Recommender

    nodes = store.stats()["nodes"]
    summary = {"products": nodes.get("Product", 0), "listings": nodes.get("Listing", 0), "brands": nodes.get("Brand", 0),
               "categories": nodes.get("Category", 0), "reviews": nodes.get("Review", 0)}
    report = {"summary": summary, "brand_share": _brand_share(store, "category"), "brand_share_by": "category",
              "attributes": _attributes(store), "prices": _prices(store), "ratings": _ratings(store), "aspects": _aspects(store),
              "inventory": inventory(store, recommender or Recommender.from_store(store), limit=INVENTORY_ROWS, model=model).to_dict()
              if has_stock(store) else None}
    notes: dict[str, str] = {}
    if not report["brand_share"]:
        report["brand_share"], report["brand_share_by"] = _brand_share(store, "product type"), "product type"
        notes["brand_share"] = NO_CATEGORY if report["brand_share"] else WHY["brand_share"]
    for section in ("attributes", "ratings", "aspects"):
        if not report[section]:
            notes[section] = WHY[section]
    if report["inventory"] is None:
        notes["inventory"] = WHY["inventory"]
    if not any(b["listings"] for b in report["prices"]["bands"]):
        notes["prices"] = WHY["prices"]
    elif not any(c["category"] != "(none)" for c in report["prices"]["by_category"]):
        notes["prices_by_category"] = WHY["prices_by_category"]
    report["notes"] = notes
    return report


def _brand_share(store: GraphStore, by: str) -> list[dict]:
    """Brand share of the products in each of the top groups: categories, or product types."""
    group = ("(p:Product)-[:IN_CATEGORY]->(c:Category)", "c.name") if by == "category" else \
        ("(p:Product)-[t:HAS_VALUE]->(c:Value) WHERE t.predicate = 'product_type' AND (t.chosen IS NULL OR t.chosen)",
         "coalesce(c.value, c.id)")
    pattern, name = group
    totals = store.query(f"MATCH {pattern} RETURN {name} AS g, count(DISTINCT p) AS n ORDER BY n DESC, g LIMIT $top",
                         {"top": TOP_CATEGORIES}).rows
    rows = store.query(f"MATCH {pattern} MATCH (p)-[:HAS_BRAND]->(b:Brand) "
                       f"RETURN {name} AS g, b.name AS brand, count(DISTINCT p) AS n ORDER BY n DESC, brand").rows
    branded = dict(store.query(f"MATCH {pattern} MATCH (p)-[:HAS_BRAND]->(:Brand) RETURN {name} AS g, count(DISTINCT p)").rows)
    by_group = defaultdict(list)
    for category, brand, count in rows:
        by_group[category].append((brand, count))
    return [{"category": category, "products": total, "branded": branded.get(category, 0),
             "brands": [{"brand": b, "products": n, "share": round(n / total, 3)} for b, n in by_group[category][:TOP_VALUES]]}
            for category, total in totals if by_group[category]]


def _attributes(store: GraphStore) -> list[dict]:
    """Per attribute kind, its most held values: counted by canonical key (曜石黑 and 黑色 are
    one black), shown as the catalogue writes that key most often (黑色)."""
    rows = store.query("MATCH (p:Product)-[r:HAS_VALUE]->(v:Value) WHERE (r.chosen IS NULL OR r.chosen) "
                       "AND NOT coalesce(r.inferred, false) RETURN r.predicate, coalesce(v.canonical, v.value), v.value, p.id").rows
    products: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # kind → canonical → products
    written: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)  # (kind, canonical) → how the catalogue writes it
    for kind, canonical, value, product in rows:
        products[kind][canonical].add(product)
        written[(kind, canonical)][value or canonical] += 1
    held = {k: len(set().union(*values.values())) for k, values in products.items()}
    kinds = sorted(products, key=lambda k: (-held[k], k))
    return [{"attribute": k, "products": held[k],
             "values": [{"key": c, "value": written[(k, c)].most_common(1)[0][0], "products": len(ps)}
                        for c, ps in sorted(products[k].items(), key=lambda item: (-len(item[1]), item[0]))[:TOP_VALUES]]}
            for k in kinds[:8]]


def _prices(store: GraphStore) -> dict:
    rows = store.query("MATCH (l:Listing) WHERE l.price IS NOT NULL RETURN coalesce(l.category, ''), l.price").rows
    prices = [p for _, p in rows]
    edges = price_bands(prices)
    bands = {label: 0 for label in band_labels(edges)}
    by_category: dict[str, list[float]] = defaultdict(list)
    for category, price in rows:
        bands[band_of(price, edges)] += 1
        by_category[category or "(none)"].append(price)
    categories = sorted(by_category, key=lambda c: -len(by_category[c]))[:TOP_CATEGORIES]
    return {"bands": [{"band": b, "listings": n} for b, n in bands.items()],
            "by_category": [{"category": c, "listings": len(by_category[c]), "min": round(min(by_category[c]), 2),
                             "median": round(float(np.median(by_category[c])), 2), "max": round(max(by_category[c]), 2)}
                            for c in categories]}


def _ratings(store: GraphStore) -> list[dict]:
    rows = store.query("MATCH (b:Brand)<-[:HAS_BRAND]-(p:Product)-[:HAS_REVIEW]->(v:Review) WHERE v.rating IS NOT NULL "
                       "RETURN b.name, count(DISTINCT v) AS n, avg(v.rating) ORDER BY n DESC, b.name LIMIT $top",
                       {"top": TOP_CATEGORIES}).rows
    return [{"brand": b, "reviews": n, "mean_rating": round(r, 2)} for b, n, r in rows]


def _aspects(store: GraphStore) -> list[dict]:
    """Aspect sentiment per brand and per category (from the review opinions the graph holds)."""
    out = []
    for group, pattern in (("brand", "(p)-[:HAS_BRAND]->(g:Brand)"), ("category", "(p)-[:IN_CATEGORY]->(g:Category)")):
        rows = store.query(
            f"MATCH (r:Review)-[m:MENTIONS]->(a:Aspect)-[:OF]->(p:Product), {pattern} "
            "RETURN g.name, a.name, count(*) AS n, sum(CASE WHEN m.polarity = 'positive' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN m.polarity = 'negative' THEN 1 ELSE 0 END) ORDER BY n DESC LIMIT 30").rows
        out += [{"by": group, "name": name, "aspect": aspect, "mentions": n, "positive": pos, "negative": neg,
                 "share_positive": round(pos / n, 3) if n else 0.0} for name, aspect, n, pos, neg in rows]
    return out


# -- the page ----------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,'WenQuanYi Zen Hei','Noto Sans CJK SC',sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{margin-bottom:4px} h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
.cards{display:flex;gap:12px;flex-wrap:wrap} .card{background:#f4f6fa;border-radius:8px;padding:10px 16px}
.card b{display:block;font-size:22px} .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:16px}
table{border-collapse:collapse;font-size:14px} td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
figure{margin:0} figcaption{font-weight:600;margin-bottom:4px} .muted{color:#777}
.why{color:#8a5a00;background:#fff6e0;border-radius:6px;padding:6px 10px}
"""


def bar_chart(rows: list[tuple[str, float]], title: str, unit: str = "", width: int = 320, colour: str = "#3b6fd8") -> str:
    """A horizontal bar chart as inline SVG."""
    if not rows:
        return f"<figure><figcaption>{html.escape(title)}</figcaption><p class='muted'>no data</p></figure>"
    label_width, bar_height = 110, 20
    top = max(v for _, v in rows) or 1
    bars = []
    for i, (label, value) in enumerate(rows):
        y = i * bar_height
        length = (width - label_width - 50) * value / top
        bars.append(f"<text x='{label_width - 4}' y='{y + 14}' text-anchor='end' font-size='12'>{html.escape(str(label)[:14])}</text>"
                    f"<rect x='{label_width}' y='{y + 3}' width='{length:.1f}' height='{bar_height - 6}' fill='{colour}'/>"
                    f"<text x='{label_width + length + 4:.1f}' y='{y + 14}' font-size='12'>{value:g}{unit}</text>")
    height = bar_height * len(rows)
    return (f"<figure><figcaption>{html.escape(title)}</figcaption><svg class='chart' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' role='img'>{''.join(bars)}</svg></figure>")


def _table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "<p class='muted'>none in this graph</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _why(report: dict[str, Any], *sections: str) -> str:
    """The notes on why these sections are empty (or counted another way), as paragraphs."""
    notes = report.get("notes", {})
    def paragraph(note: str) -> str:
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(note[0].upper() + note[1:]))

    return "".join(f"<p class='why'>{paragraph(notes[s])}.</p>" for s in sections if s in notes)


def report_html(report: dict[str, Any], title: str = "skugraph market report") -> str:
    """The report as one self-contained HTML page; an empty section says why it is empty."""
    from skugraph.apps.inventory import accessory_line

    s = report["summary"]
    cards = "".join(f"<div class='card'><b>{v}</b>{html.escape(k)}</div>" for k, v in s.items())
    by = report.get("brand_share_by", "category")
    shares = "".join(bar_chart([(b["brand"], round(100 * b["share"], 1)) for b in c["brands"]],
                               f"{c['category']} ({c['products']} products, {c['branded']} with a brand)", "%")
                     for c in report["brand_share"])
    attributes = "".join(bar_chart([(v["value"], v["products"]) for v in a["values"]], f"{a['attribute']}", colour="#2a9d8f")
                         for a in report["attributes"])
    prices = report["prices"]
    price_chart = "" if "prices" in report.get("notes", {}) else \
        bar_chart([(b["band"], b["listings"]) for b in prices["bands"]], "listings per price band", colour="#e76f51")
    price_table = "" if {"prices", "prices_by_category"} & set(report.get("notes", {})) else \
        _table(prices["by_category"], ["category", "listings", "min", "median", "max"])
    ratings = bar_chart([(r["brand"], r["mean_rating"]) for r in report["ratings"]], "mean review rating per brand",
                        colour="#f4a261") if report["ratings"] else ""
    aspects = _table(report["aspects"], ["by", "name", "aspect", "mentions", "positive", "negative", "share_positive"]) \
        if report["aspects"] else ""
    stock = report["inventory"]
    inventory = "" if "inventory" in report.get("notes", {}) else (
        f"<p>{html.escape(stock['summary'])}.</p><h3>Out of stock, the fastest sellers first</h3>"
        + _table([{"product": f"{s['id']} {s['title']}", "sold a day": "no sales given" if s["daily_sales"] is None else s["daily_sales"],
                   "in stock instead": "; ".join(f"{x['id']} {x['title']} ({x['reason']})" for x in s["substitutes"][:1]) or "none"}
                  for s in stock["stock_outs"]], ["product", "sold a day", "in stock instead"])
        + f"<h3>Low: under {stock['low_days']:g} days of cover, the fastest sellers first</h3>"
        + _table([{"product": f"{p['id']} {p['title']}", "stock": p["stock"], "sold a day": p["daily_sales"],
                   "days of cover": p["days_of_cover"]}
                  for p in stock["low"]], ["product", "stock", "sold a day", "days of cover"])
        + "<h3>Accessories of selling devices</h3>"
        + _table([{"device": f"{d['id']} {d['title']}", "sold a day": d["daily_sales"],
                   "accessories": "; ".join(accessory_line(a) for a in d["accessories"])}
                  for d in stock["accessories"]], ["device", "sold a day", "accessories"])
        + "<h3>Slow movers</h3>" + _table([{"type": m["type"], "value": f"{m['attribute']} {m['value']}", "stock": m["stock"],
                                              "days of cover": "no sales" if m["days_of_cover"] is None else m["days_of_cover"],
                                              "the type's": m["type_days_of_cover"]}
                                             for m in stock["slow_movers"]], ["type", "value", "stock", "days of cover", "the type's"])
        + "<h3>Reallocation hints</h3>" + _table([{"product": f"{r['product']} {r['title']}", "move": f"{r['move']} from {r['source']} to {r['target']}",
                                                     "why": r["reason"]} for r in stock["reallocations"]], ["product", "move", "why"]))
    return f"""<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1><div class="cards">{cards}</div>
<h2 id="brand-share">Brand share per {html.escape(by)}</h2>{_why(report, "brand_share")}<div class="grid">{shares}</div>
<h2 id="attributes">Attribute values</h2>{_why(report, "attributes")}<div class="grid">{attributes}</div>
<h2 id="prices">Prices</h2>{_why(report, "prices", "prices_by_category")}<div class="grid">{price_chart}{price_table}</div>
<h2 id="sentiment">Reviews and aspect sentiment</h2>{_why(report, "ratings", "aspects")}<div class="grid">{ratings}</div>{aspects}
<h2 id="inventory">Inventory</h2>{_why(report, "inventory")}{inventory}
</body></html>"""
