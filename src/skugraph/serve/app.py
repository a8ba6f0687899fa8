"""The REST API and the web UI over one graph (FastAPI; OpenAPI at ``/docs``).

API: ``/products/{id}``, ``/search``, ``/recommend/{id}``, ``/facts?product=``, ``/extract``
(text → mentions and facts), ``/query`` (read-only Cypher with a time limit), ``/report``.
UI: ``/`` (search with facets), ``/ui/product/{id}`` (facts with their evidence highlighted,
a graph view of the product's neighbours), ``/ui/report`` (market analysis).

The graph is opened read-only; every error is JSON with a reason (``{"error": …}``), never a
stack trace; inputs have size limits.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from skugraph import __version__
from skugraph.apps.recommend import Recommender
from skugraph.apps.search import QueryParser, SearchIndex
from skugraph.graph.cards import product_card, product_facts, product_of
from skugraph.graph.ladybug_store import StoreError
from skugraph.graph.store import GraphStore, open_store

PAGES = Path(__file__).parent / "pages"
SWAGGER_UI = Path(importlib.util.find_spec("swagger_ui").origin).parent / "static"  # the swagger-ui-py package's files
MAX_BODY = 64 * 1024  # bytes of a request body
MAX_TEXT = 5_000  # characters of text to extract from
MAX_QUERY = 200  # characters of a search query
MAX_CYPHER = 5_000
WRITES = re.compile(r"\b(CREATE|MERGE|DELETE|DETACH|SET|REMOVE|DROP|ALTER|COPY|LOAD|INSTALL|ATTACH|IMPORT|EXPORT|BEGIN|COMMIT|CHECKPOINT)\b",
                    re.IGNORECASE)


class ExtractRequest(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="A title or description")


class CypherRequest(BaseModel):
    cypher: str = Field(min_length=1, max_length=MAX_CYPHER, description="A read-only Cypher query")
    parameters: dict[str, Any] = Field(default_factory=dict)


@dataclass
class Services:
    """What the app answers with, built once from the graph."""

    store: GraphStore
    index: SearchIndex
    parser: QueryParser
    recommender: Recommender
    lock: threading.Lock
    query_timeout: float

    @classmethod
    def open(cls, db: Path, tagger: Path | None = None, query_timeout: float = 5.0, kg_embeddings: str | None = None,
             runtime: str = "torch-bf16") -> Services:
        store = open_store(db, read_only=True)
        index = SearchIndex.from_store(store)
        if tagger:
            from skugraph.tagging.tagger import Tagger, TaggerExtractor

            extractor = TaggerExtractor(Tagger.load(tagger, runtime))
        else:
            from skugraph.tagging.rules import RuleExtractor

            titles = [row[0] for row in store.query("MATCH (l:Listing) RETURN l.title").rows if row[0]]
            extractor = RuleExtractor().learn_brands(titles)
        recommender = Recommender.from_documents(index.documents)
        if kg_embeddings:
            recommender.learn_embeddings(kg_embeddings)
        return cls(store, index, QueryParser(extractor), recommender, threading.Lock(), query_timeout)


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


def create_app(db: Path, tagger: Path | None = None, query_timeout: float = 5.0, kg_embeddings: str | None = None,
               runtime: str = "torch-bf16") -> FastAPI:
    """The app over the graph at ``db`` (searching with the rules, or with ``tagger`` run by
    ``runtime``; with ``kg_embeddings``, a PyKEEN model trained at start for similar products)."""
    services = Services.open(Path(db), tagger, query_timeout, kg_embeddings, runtime)
    app = FastAPI(title="skugraph", version=__version__, docs_url=None,
                  description="Product knowledge graph: search, recommendations, facts with provenance, market analysis.")
    app.state.services = services
    app.mount("/swagger", StaticFiles(directory=SWAGGER_UI), name="swagger")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> str:  # Swagger UI from the installed package: works offline
        return (PAGES / "docs.html").read_text(encoding="utf-8")

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        size = request.headers.get("content-length")
        if size and size.isdigit() and int(size) > MAX_BODY:
            return _error(413, f"request body over {MAX_BODY} bytes")
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        reasons = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in error.errors()]
        return _error(422, "; ".join(reasons))

    @app.exception_handler(Exception)
    async def crashed(_: Request, error: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(error).__name__})")

    def product_or_404(product_id: str) -> str:
        with services.lock:
            found = product_of(services.store, product_id)
        if found is None:
            raise HTTPException(404, f"no product or listing {product_id!r}")
        return found

    @app.get("/products/{product_id}", tags=["api"], summary="A product as the graph knows it (or the product a listing offers)")
    def get_product(product_id: str) -> dict:
        found = product_or_404(product_id)
        with services.lock:
            return product_card(services.store, found)

    @app.get("/search", tags=["api"], summary="Search products: BM25 plus constraints read from the query; facets")
    def search(q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY)], limit: Annotated[int, Query(ge=1, le=100)] = 10,
               brand: str | None = None, type: str | None = None, colour: str | None = None, price: str | None = None) -> dict:
        filters = {"brand": brand, "type": type, "colour": colour, "price": price}
        return services.index.search(q, services.parser, limit, {k: v for k, v in filters.items() if v}).to_dict()

    @app.get("/recommend/{product_id}", tags=["api"], summary="Similar, complementary and substitute products, with reasons")
    def recommend(product_id: str, k: Annotated[int, Query(ge=1, le=50)] = 5) -> dict:
        found = product_or_404(product_id)
        if found not in services.recommender:
            return {"similar": [], "complementary": [], "substitutes": []}
        return services.recommender.recommend(found, k)

    @app.get("/facts", tags=["api"], summary="Every fact about a product, with structured evidence")
    def facts(product: str) -> dict:
        found = product_or_404(product)
        with services.lock:
            return {"product": found, "facts": product_facts(services.store, found)}

    @app.post("/extract", tags=["api"], summary="Text to mentions and facts (the extractor the server searches with)")
    def extract(request: Annotated[ExtractRequest, Body()]) -> dict:
        mentions, built = services.parser.read(request.text, "text")
        return {"mentions": [m.to_dict() for m in mentions], "facts": [f.to_dict() for f in built]}

    @app.post("/query", tags=["api"], summary="Read-only Cypher with a time limit")
    def query(request: Annotated[CypherRequest, Body()]) -> dict:
        write = WRITES.search(request.cypher)
        if write:
            raise HTTPException(403, f"read-only: {write.group(1).upper()} is not allowed")
        try:
            with services.lock:
                result = services.store.query(request.cypher, request.parameters, timeout=services.query_timeout)
        except StoreError as error:
            reason = str(error).splitlines()[0]
            if "interrupt" in reason.lower():
                raise HTTPException(408, f"query stopped after {services.query_timeout:g} s") from None
            raise HTTPException(400, reason) from None
        return {"columns": result.columns, "rows": result.rows[:10_000], "truncated": len(result.rows) > 10_000}

    @app.get("/report", tags=["api"], summary="Market analysis: brand share, attribute values, price bands, aspect sentiment")
    def report() -> dict:
        from skugraph.apps.analytics import market_report

        with services.lock:
            return market_report(services.store)

    @app.get("/ui/report", response_class=HTMLResponse, include_in_schema=False)
    def report_page() -> str:
        from skugraph.apps.analytics import market_report, report_html

        with services.lock:
            return report_html(market_report(services.store))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        return (PAGES / "search.html").read_text(encoding="utf-8")

    @app.get("/ui/product/{product_id}", response_class=HTMLResponse, include_in_schema=False)
    def product_page(product_id: str) -> str:
        return (PAGES / "product.html").read_text(encoding="utf-8")

    return app
