"""The REST API (FastAPI test client) and the web UI in headless Chromium (Playwright)."""

import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from skugraph.serve.app import create_app

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"


@pytest.fixture(scope="module")
def app(demo_graph):
    return create_app(demo_graph, query_timeout=2.0)


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


def test_openapi_lists_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/products/{product_id}", "/search", "/recommend/{product_id}", "/inventory", "/facts", "/extract", "/query", "/report",
            "/stats"} <= set(paths)


def test_inventory_reads_the_sample_catalogues_stock(client, demo_graph):
    from skugraph.graph.store import open_store

    with open_store(demo_graph, read_only=True) as store:
        units, out = store.query("MATCH (l:Listing)-[:OFFER_OF]->(p:Product) WITH p, sum(l.stock) AS units "
                                 "RETURN sum(units), count(CASE WHEN units = 0 THEN 1 END)").rows[0]
    found = client.get("/inventory", params={"limit": 3}).json()
    assert found["stock"] == units > 0 and found["out_of_stock"] == out > 0 and len(found["stock_outs"]) == 3
    assert all(s["stock"] > 0 for stock_out in found["stock_outs"] for s in stock_out["substitutes"])
    assert client.get("/inventory", params={"limit": 0}).status_code == 422


def test_a_products_inventory_agrees_with_the_catalogues(client):
    found = client.get("/inventory", params={"limit": 5}).json()
    out = next(s for s in found["stock_outs"] if s["substitutes"])
    mine = client.get(f"/inventory/{out['id']}").json()
    assert mine["stock"] == 0 and mine["listings"] == out["listings"] and mine["warehouses"] == out["warehouses"]
    assert [s["id"] for s in mine["substitutes"]] == [s["id"] for s in out["substitutes"]]
    stocked = client.get(f"/inventory/{mine['substitutes'][0]['id']}").json()
    assert stocked["stock"] == mine["substitutes"][0]["stock"] > 0 and stocked["substitutes"] == []
    assert client.get("/inventory/no-such-product").status_code == 404


def test_the_inventory_keeps_the_substitutes_a_substitute_model_accepts(demo_graph, tmp_path):
    import numpy as np

    from skugraph.apps.substitute_model import SubstituteModel

    SubstituteModel({"cosine": 0}, np.array([0.0]), 3.0, 0.5).save(tmp_path / "model")  # accepts every substitute at 0.953
    client = TestClient(create_app(demo_graph, substitute_model=tmp_path / "model"))
    found = client.get("/inventory", params={"limit": 5}).json()
    out = next(s for s in found["stock_outs"] if s["substitutes"])
    assert {s["probability"] for s in out["substitutes"]} == {0.953}
    assert client.get(f"/inventory/{out['id']}").json()["substitutes"] == out["substitutes"]
    reported = client.get("/report").json()["inventory"]["stock_outs"]
    assert {s["probability"] for stock_out in reported for s in stock_out["substitutes"]} == {0.953}  # the report's too


def test_search_product_facts_and_recommendations(client):
    found = client.get("/search", params={"q": "华为 手机壳 透明", "limit": 3}).json()
    assert [c["predicate"] for c in found["constraints"]] == ["compatible_with", "product_type", "colour"]
    assert found["hits"] and found["facets"]["brand"]
    product = found["hits"][0]["id"]
    card = client.get(f"/products/{product}").json()
    assert card["id"] == product and card["listings"]
    facts = client.get("/facts", params={"product": product}).json()["facts"]
    place = next(p for f in facts for p in f["evidence"] if not p["inferred"])
    assert place["text"][place["start"]:place["end"]]  # the span the fact was read from
    lists = client.get(f"/recommend/{product}", params={"k": 2}).json()
    assert set(lists) == {"similar", "complementary", "substitutes"} and lists["similar"][0]["reason"]
    listing = card["listings"][-1]["listing"]  # a listing id answers with its product
    assert client.get(f"/products/{listing}").json()["id"] == product


def test_search_filters_take_names_aliases_or_keys(client):
    by_key = client.get("/search", params={"q": "手机壳", "brand": "huawei", "limit": 50}).json()
    assert by_key["total"] > 0 and by_key["filters"] == {"brand": ["huawei"]}
    for brand in ("华为", "HUAWEI"):
        named = client.get("/search", params={"q": "手机壳", "brand": brand, "limit": 50}).json()
        assert [h["id"] for h in named["hits"]] == [h["id"] for h in by_key["hits"]], brand
    assert client.get("/search", params={"q": "手机壳", "type": "手机壳"}).json()["total"] > 0
    fits = client.get("/search", params={"q": "手机壳", "fits": "华为"}).json()
    assert fits["total"] > 0 and {"name": "华为", "count": fits["total"]}.items() <= \
        next(f for f in fits["facets"]["fits"] if f["name"] == "华为").items()  # every match fits 华为
    unknown = client.get("/search", params={"q": "手机壳", "brand": "无此品牌"})
    assert unknown.status_code == 404 and unknown.json()["error"].startswith("no brand '无此品牌' in the graph")


def test_extract_text_to_mentions_and_facts(client):
    answer = client.post("/extract", json={"text": "华为 Mate 60 12+256G 蓝色 5G手机"}).json()
    assert {m["label"] for m in answer["mentions"]} >= {"brand", "capacity", "colour"}
    assert any(f["predicate"] == "has_brand" for f in answer["facts"])


def test_errors_are_json_with_a_reason(client):
    missing = client.get("/products/no-such-sku")
    assert missing.status_code == 404 and missing.json() == {"error": "no product or listing 'no-such-sku'"}
    for path in ("/products/", "/recommend/", "/inventory/"):
        unnamed = client.get(path)
        assert unnamed.status_code == 404 and unnamed.json()["error"].startswith("no product id"), path
    too_long = client.post("/extract", json={"text": "字" * 6000})
    assert too_long.status_code == 422 and "at most 5000" in too_long.json()["error"]
    assert client.get("/search", params={"q": ""}).status_code == 422
    assert client.get("/search", params={"q": "手机", "limit": 1000}).status_code == 422
    big = client.post("/extract", content=b"{" + b" " * 70_000 + b"}", headers={"content-type": "application/json"})
    assert big.status_code == 413 and "error" in big.json()
    broken = client.post("/extract", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and "Traceback" not in broken.text


def test_query_is_read_only_and_time_limited(client):
    ok = client.post("/query", json={"cypher": "MATCH (p:Product) RETURN count(p) AS n"}).json()
    assert ok["columns"] == ["n"] and ok["rows"][0][0] > 100
    refused = client.post("/query", json={"cypher": "MATCH (p:Product) DETACH DELETE p"})
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]
    bad = client.post("/query", json={"cypher": "MATCH (p:Product RETURN p"})
    assert bad.status_code == 400 and "Parser exception" in bad.json()["error"]
    slow = client.post("/query", json={"cypher": "MATCH (a)-[*1..10]-(b) RETURN count(*)"})
    assert slow.status_code == 408 and "stopped after 2 s" in slow.json()["error"]
    assert client.post("/query", json={"cypher": "MATCH (p:Product) RETURN count(p)"}).status_code == 200  # still serving


def test_stats_give_each_facts_confidence_and_the_expected_precision(client):
    stats = client.get("/stats").json()
    overall, per = stats["confidence"]["all"], stats["confidence"]["predicates"]
    read = ("MATCH ()-[r]->() WHERE NOT r.predicate IN ['offer_of', 'has_review'] AND NOT coalesce(r.inferred, false) "
            "RETURN avg(r.confidence), count(r)")
    mean, edges = client.post("/query", json={"cypher": read}).json()["rows"][0]
    inferred = client.post("/query", json={"cypher": "MATCH ()-[r]->() WHERE r.inferred RETURN count(r)"}).json()["rows"][0][0]
    assert sum(p["facts"] for p in per.values()) == sum(stats["edges"].values()) > edges + inferred  # offers and reviews apart
    assert overall["facts"] == edges == sum(p["facts"] for name, p in per.items()
                                            if name not in ("offer_of", "has_review") and not name.endswith(" (inferred)"))
    assert overall["expected_precision"] == pytest.approx(mean, abs=1e-4)
    assert inferred and stats["confidence"]["inferred"]["facts"] == stats["confidence"]["inferred"]["calibrated"] == inferred
    assert overall["calibrated"] == 0  # the rules' graph: no fact read from text has a calibrated confidence
    product = client.get("/search", params={"q": "华为 手机", "limit": 1}).json()["hits"][0]["id"]
    assert all(0 < f["confidence"] <= 1 for f in client.get("/facts", params={"product": product}).json()["facts"])


def test_report_endpoint_and_page(client):
    data = client.get("/report").json()
    assert data["summary"]["products"] > 100 and data["brand_share"]
    page = client.get("/ui/report")
    assert page.status_code == 200 and page.text.count("<svg") >= 4


# -- the web UI in a real browser --------------------------------------------------------------

def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def _serving(app):
    """``app`` on a free local port in a thread; yields its address."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(100):
        if running.started:
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(app):
    with _serving(app) as address:
        yield address


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium on PATH (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


#: every label and node of the product page's neighbour graph, as boxes, and the graph's frame
GRAPH_BOXES = """() => { const svg = document.getElementById("graph"), frame = svg.viewBox.baseVal;
  const box = e => { const b = e.getBBox(); return {kind: e.tagName, x: b.x, y: b.y, width: b.width, height: b.height}; };
  return {width: frame.width, height: frame.height, shapes: [...svg.querySelectorAll("text, circle")].map(box)}; }"""


def _overlapping(shapes: list[dict], slack: float = 0.5) -> list[tuple[dict, dict]]:
    """Pairs of a label and another label or a node whose boxes overlap."""
    def meet(a: dict, b: dict) -> bool:
        return (a["x"] + slack < b["x"] + b["width"] and b["x"] + slack < a["x"] + a["width"]
                and a["y"] + slack < b["y"] + b["height"] and b["y"] + slack < a["y"] + a["height"])

    return [(a, b) for i, a in enumerate(shapes) for b in shapes[i + 1:] if "text" in (a["kind"], b["kind"]) and meet(a, b)]


def _check_graph_layout(page) -> dict:
    graph = page.evaluate(GRAPH_BOXES)
    texts = [s for s in graph["shapes"] if s["kind"] == "text"]
    assert texts and not _overlapping(graph["shapes"]), _overlapping(graph["shapes"])
    assert all(0 <= s["x"] and s["x"] + s["width"] <= graph["width"] + 0.5 and 0 <= s["y"]
               and s["y"] + s["height"] <= graph["height"] + 0.5 for s in graph["shapes"])  # inside the frame
    return graph


def test_web_ui_search_product_and_report(server, browser, client):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server}/")
    page.fill("#q", "华为 手机壳 透明")
    page.press("#q", "Enter")
    page.wait_for_selector(".hit")
    assert "手机壳" in page.inner_text(".hit a.result")
    assert page.locator("#constraints .tag").count() == 3
    assert page.locator("label.facet").count() > 3
    page.screenshot(path=str(SCREENSHOTS / "search.png"), full_page=True)

    before = int(page.inner_text("#summary").split()[0])
    page.locator("label.facet input[data-facet=brand]").first.check()  # a facet narrows the results
    page.wait_for_url("**brand=**")
    page.wait_for_selector(".hit")
    assert int(page.inner_text("#summary").split()[0]) < before

    page.click(".hit a.result")
    page.wait_for_selector("tr.fact")
    rows = page.locator("tr.fact")
    assert rows.count() >= 3
    shown = [float(rows.nth(i).locator("td.confidence").inner_text().strip().rstrip("%")) for i in range(rows.count())]
    assert shown == [round(float(rows.nth(i).get_attribute("data-confidence")) * 100, 1) for i in range(rows.count())]
    assert "calibrated" in page.inner_text("#calibration")  # whether a confidence is a probability, said once
    least = sorted(shown)[len(shown) // 2]  # the slider hides the facts under it
    page.eval_on_selector("#min-confidence", "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }", str(int(least // 5 * 5)))
    hidden = [rows.nth(i).is_hidden() for i in range(rows.count())]
    assert hidden == [value < least // 5 * 5 for value in shown] and any(hidden) is (min(shown) < least // 5 * 5)
    page.eval_on_selector("#min-confidence", "e => { e.value = 0; e.dispatchEvent(new Event('input')); }")
    marks = page.locator("#facts mark")
    assert marks.count() > 0 and marks.first.inner_text().strip()  # evidence spans highlighted in their text
    assert page.locator("#graph circle.node").count() >= 4  # the product and its neighbours
    _check_graph_layout(page)
    many = [{"predicate": ["compatible_with", "has_brand", "colour", "related_product"][i % 4], "label": "Value",
             "value": f"很长很长的属性值名称 Very Long Value {i}" * (1 + i % 3)} for i in range(40)]
    page.evaluate("facts => drawGraph('一个非常长的商品标题 ' .repeat(12), facts)", many)  # crowded: still no overlap
    crowded = _check_graph_layout(page)
    assert sum(s["kind"] == "circle" for s in crowded["shapes"]) == 25  # 24 neighbours and the product
    assert page.locator("#recommendations li a").count() > 0
    page.screenshot(path=str(SCREENSHOTS / "product.png"), full_page=True)

    out = client.get("/inventory", params={"limit": 1}).json()["stock_outs"][0]
    page.goto(f"{server}/ui/product/{quote(out['id'], safe='')}")  # out of stock: what can stand in, linked
    page.wait_for_selector("#stock-substitutes li")
    assert "out of stock" in page.inner_text("#stock")
    assert page.locator("#stock-substitutes li a").count() == len(out["substitutes"]) > 0

    page.goto(f"{server}/docs")  # Swagger UI from the installed package, nothing from a CDN
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() >= 7
    page.screenshot(path=str(SCREENSHOTS / "docs.png"))

    page.goto(f"{server}/?q=手机壳&brand=华为")  # a filter by name checks its facet
    page.wait_for_selector(".hit")
    assert page.locator("label.facet input[data-facet=brand]:checked").count() == 1

    page.goto(f"{server}/ui/report")
    assert page.locator("svg.chart").count() >= 4
    assert "Brand share per category" in page.inner_text("h2#brand-share")
    page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)
    page.close()


@pytest.mark.parametrize("cypher", [
    "MATCH (p:Product) DETACH DELETE p", "CREATE (n:Brand {id: 'x'})", "match (n) set n.name = 'x'", "MERGE (b:Brand {id: 'x'})",
    "CALL show_tables() RETURN *", "call current_setting('threads') return *", "LOAD FROM '/etc/passwd' RETURN *",
    "COPY Product FROM '/tmp/products.csv'", "INSTALL httpfs", "ATTACH '/tmp/other.lbug' AS other", "EXPORT DATABASE '/tmp/out'",
    "DROP TABLE Product", "MATCH (n) RETURN n; MATCH (m) DELETE m", "/* just reading */ CALL show_tables() RETURN *",
    "MATCH (n) // a comment\nREMOVE n.name", "WITH 1 AS x CALL db_version() RETURN x", "BEGIN TRANSACTION", "",
])
def test_queries_that_write_call_or_touch_files_are_refused(cypher):
    from skugraph.serve.guard import ReadOnlyError, check_read_only

    with pytest.raises(ReadOnlyError):
        check_read_only(cypher)


@pytest.mark.parametrize("cypher", [
    "MATCH (p:Product) RETURN count(p)", "match (p:Product) where p.title contains 'CREATE; DELETE' return p.id",
    "MATCH (p:Product) RETURN p.set AS set_ LIMIT 1", "OPTIONAL MATCH (p:Product)-[:HAS_BRAND]->(b) RETURN b.name;",
    "UNWIND [1, 2] AS x RETURN x", "WITH 1 AS x RETURN x", "MATCH (`CREATE`:Product) RETURN count(*)",
])
def test_reading_queries_pass(cypher):
    from skugraph.serve.guard import check_read_only

    check_read_only(cypher)


def test_refused_queries_never_reach_the_store(app, client, monkeypatch):
    asked: list[str] = []
    store = app.state.services.store
    original = store.query
    monkeypatch.setattr(store, "query", lambda cypher, *args, **kwargs: asked.append(cypher) or original(cypher, *args, **kwargs))
    for cypher in ("CALL show_tables() RETURN *", "LOAD FROM '/etc/passwd' RETURN *", "MATCH (n) RETURN n; MATCH (m) DELETE m"):
        refused = client.post("/query", json={"cypher": cypher})
        assert refused.status_code == 403 and refused.json()["error"].startswith("read-only")
    assert asked == []
    assert client.post("/query", json={"cypher": "MATCH (p:Product) RETURN count(p)"}).status_code == 200 and len(asked) == 1


def test_a_body_streamed_without_its_length_is_cut_off_at_the_limit(client):
    def chunks():
        for _ in range(100):
            yield b" " * 1024

    streamed = client.post("/extract", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and "over 65536 bytes" in streamed.json()["error"]


def test_the_docs_files_are_served_by_name_and_no_request_opens_a_path(client):
    assert client.get("/swagger/swagger-ui.css").status_code == 200
    assert client.get("/docs").status_code == 200
    for path in ("/swagger/..%2F..%2Fpyproject.toml", "/swagger/index.css", "/swagger/%2Fetc%2Fpasswd"):
        answer = client.get(path)
        assert answer.status_code == 404 and "root:" not in answer.text and "[project]" not in answer.text
    # a product page takes any id, slashes too (ids are the shop's): the same page, which asks the API for it
    shell = client.get("/ui/product/sku-0001").text
    answer = client.get("/ui/product/..%2F..%2Fetc%2Fpasswd")
    assert answer.status_code == 200 and answer.text == shell and "root:" not in answer.text



def test_generated_requests_get_documented_answers_and_never_a_server_error(app):
    """Schemathesis generates requests (valid and not) for every operation of the OpenAPI schema:
    no answer is a 5xx, and each matches the schema (status code, body, headers)."""
    schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (the dev extra) is not installed")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def answers(case):
            # a schema-valid body to /query can still be no Cypher ("WITH"): its documented 400 is right there
            excluded = [positive_data_acceptance] if case.operation.path == "/query" else []
            case.call_and_validate(excluded_checks=excluded)

        answers()


def test_with_keys_the_pages_ask_for_one_and_send_it(demo_graph, browser, tmp_path):
    from skugraph.serve.keys import KeyStore

    store = KeyStore(tmp_path / "keys.json")
    _, key = store.create("analyst", "read")
    with _serving(create_app(demo_graph, keys=store.path)) as address:
        page = browser.new_page()
        page.goto(f"{address}/?q=华为 手机壳")
        page.wait_for_selector("#key-form")  # the search answered 401: the page asks
        assert "API key" in page.inner_text("#results")
        page.fill("#api-key", "skg_not-a-key")
        page.click("#key-form button")
        page.wait_for_selector("#key-form")
        assert "refused" in page.inner_text("#key-form")
        page.fill("#api-key", key)
        page.click("#key-form button")
        page.wait_for_selector(".hit")  # the key is kept for the tab and sent with every call
        assert page.locator("#key-form").count() == 0
        page.click(".hit a.result")
        page.wait_for_selector("tr.fact")
        assert page.locator("#recommendations li a").count() > 0
        page.close()


def test_a_graph_of_unfused_facts_has_no_delisted_products(tmp_path):
    """Products that no listing offers because the graph was loaded without fusion (no offers at
    all) are products all the same, not delisted ones: answered 200 and counted."""
    from skugraph.extract import ExtractorConfig, build_reader
    from skugraph.graph.store import open_store
    from skugraph.records import Listing

    listings = [Listing("raw-a", "华为 Mate 60 手机 黑色"), Listing("raw-b", "苹果 iPhone 15 手机壳 透明")]
    with open_store(tmp_path / "raw.lbug") as store:
        store.load(listings, [fact for _, found in build_reader(ExtractorConfig()).read(listings) for fact in found])
        products = store.stats()["nodes"]["Product"]
    client = TestClient(create_app(tmp_path / "raw.lbug"))
    assert products and client.get("/products/raw-a").status_code == 200
    stats = client.get("/stats").json()
    assert stats["nodes"]["Product"] == products and stats["delisted"] == {"Product": 0, "Listing": 0}
