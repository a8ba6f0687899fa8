"""The REST API and the web UI over one graph (FastAPI; OpenAPI at ``/docs``).

API: ``/products/{id}``, ``/search``, ``/recommend/{id}``, ``/inventory``, ``/inventory/{id}``, ``/facts?product=``, ``/extract``
(text → mentions and facts), ``/query`` (read-only Cypher with a time limit), ``/report``,
``/stats`` (counts, and the graph's expected precision from its facts' confidences).
With ``writable``: ``POST /listings``, ``DELETE /listings/{id}`` and ``GET /changes``
(:mod:`skugraph.serve.writes`: one writer thread, idempotency keys, a feed of the writes).
With a key store (``keys``), every API endpoint needs a key of the right role
(:mod:`skugraph.serve.keys`), each key has a rate limit, and every request is logged to
``skugraph.access`` with its key's id. CORS is off unless ``cors_origins`` names origins.
UI: ``/`` (search with facets), ``/ui/product/{id}`` (facts with their confidence and their
evidence highlighted, a graph view of the product's neighbours), ``/ui/report`` (market analysis).

The graph is opened read-only unless ``writable`` (then ``/query`` runs in a read-only
transaction); every error is JSON with a reason (``{"error": …}``), never a
stack trace; inputs have size limits.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from skugraph import __version__
from skugraph.apps.documents import documents_from_store
from skugraph.apps.query_parser import QueryParser
from skugraph.apps.inventory import inventory as inventory_of, product_inventory as product_inventory_of
from skugraph.apps.recommend import Recommender
from skugraph.apps.substitute_model import SubstituteModel
from skugraph.apps.search import FilterError, SearchIndex
from skugraph.extract import ExtractorConfig, ListingReader, build_extractor, build_reader
from skugraph.graph.cards import product_card, product_facts, product_of
from skugraph.graph.store import StoreError
from skugraph.graph.store import GraphStore, holds_offers, market_stats, open_store
from skugraph.serve.guard import BodyLimit, ReadOnlyError, check_read_only
from skugraph.serve.keys import Access, AccessLog, KeyStore, RateLimiter
from skugraph.records import Listing
from skugraph.serve.writes import (CANDIDATES, MAX_LISTINGS, Answer, BodyError, WriteLog, Writer, listings_schema, request_digest, validate,
                                   writes_file)

PAGES = Path(__file__).parent / "pages"
SWAGGER_UI = Path(importlib.util.find_spec("swagger_ui").origin).parent / "static"  # the swagger-ui-py package's files
MAX_BODY = 64 * 1024  # bytes of a request body
MAX_TEXT = 5_000  # characters of text to extract from
MAX_QUERY = 200  # characters of a search query
MAX_CYPHER = 5_000
#: the Swagger UI files the docs page needs, read once at start (no request names a file)
SWAGGER_FILES = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript", "favicon-32x32.png": "image/png"}


class ErrorBody(BaseModel):
    error: str = Field(description="What was wrong, in one line")


_MEANINGS = {400: "The body is not UTF-8 JSON, or the query is not valid Cypher", 403: "The query would write, call a procedure or touch a file",
             404: "No such product or listing (on /search: a filter names a value the graph does not hold)",
             410: "The product was delisted (no listing offers it now), or the listing was; their history is kept", 408: "The query ran past the time limit",
             409: "The Idempotency-Key was used for another request (another method, path or body)", 413: "The request body is too large",
             422: "A parameter or the body is not valid (on POST /listings: not a JSON array of listing objects of the schema's types; a listing of those types that validation turns away is named in the answer's `rejected`)"}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers an endpoint gives (every one is ``{"error": …}``)."""
    return {code: {"model": ErrorBody, "description": _MEANINGS[code]} for code in (*codes, 422)}


class ExtractRequest(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="A title or description")


class CypherRequest(BaseModel):
    cypher: str = Field(min_length=1, max_length=MAX_CYPHER, description="A read-only Cypher query",
                        examples=["MATCH (p:Product)-[:HAS_BRAND]->(b:Brand {id: $brand}) RETURN p.title LIMIT 5"])
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
    #: node and edge counts, and the facts' confidences (``skugraph stats --json``): counted at start and after each write
    stats: dict[str, Any] = field(default_factory=dict)
    #: what reads posted listings (writable only: the served extractor, with the fact builder)
    reader: ListingReader | None = None
    learned_embeddings: bool = False
    #: keeps the inventory's substitutes it accepts (:mod:`skugraph.apps.substitute_model`)
    substitute_model: SubstituteModel | None = None
    #: the least seconds between two rebuilds of the recommender and the counts after writes
    #: (each costs the whole catalogue: about a second of a core at 20,000 products)
    catch_up_every: float = 10.0
    _writes: int = 0  # writes refreshed so far
    _caught_up_to: int = 0  # writes the recommender and the counts include
    _caught_up: threading.Condition = field(default_factory=threading.Condition)
    _behind: threading.Event = field(default_factory=threading.Event)
    _closing: threading.Event = field(default_factory=threading.Event)
    _catching_up: threading.Thread | None = None

    @classmethod
    def open(cls, db: Path, tagger: Path | None = None, query_timeout: float = 5.0, kg_embeddings: str | None = None,
             runtime: str = "torch-bf16", writable: bool = False, buffer_pool_mb: int | None = None,
             substitute_model: Path | None = None) -> Services:
        model = SubstituteModel.load(substitute_model) if substitute_model else None  # a bad path fails before the graph opens
        store = open_store(db, read_only=not writable, buffer_pool_mb=buffer_pool_mb)
        index = SearchIndex.from_store(store)
        config = ExtractorConfig("tagger", tagger, runtime=runtime) if tagger else ExtractorConfig()
        # the rules learn the graph's two-script brands from its titles
        titles = None
        if writable or not tagger:
            titles = [row[0] for row in store.query("MATCH (l:Listing) RETURN l.title").rows if row[0]]
        reader = build_reader(config, store.ontology, titles) if writable else None
        extractor = reader.extractor if reader else build_extractor(config, titles)
        recommender = Recommender.from_index(index)
        if kg_embeddings:
            recommender.learn_embeddings(kg_embeddings)
        stats = market_stats(store)
        return cls(store, index, QueryParser(extractor), recommender, threading.Lock(), query_timeout, stats, reader,
                   bool(kg_embeddings), model)

    def refresh(self, store: GraphStore, products: Collection[str] | None = None) -> None:
        """After a write: the search index brought up to date from ``store`` for the ``products``
        the write touched (all of them when None) and swapped in, before the write is answered;
        the recommender and the counts follow in the background (:meth:`_catch_up`)."""
        if products is None:
            index = SearchIndex.from_store(store)
        else:
            documents, aliases = documents_from_store(store, products)
            index = self.index.updated(documents, set(products) - {d.id for d in documents}, aliases)
        self.index = index
        self._writes += 1
        self._behind.set()
        if self._catching_up is None:
            self._catching_up = threading.Thread(target=self._catch_up, name="skugraph-catch-up", daemon=True)
            self._catching_up.start()

    def _catch_up(self) -> None:
        """Rebuild the recommender (embeddings learned at start are kept as they were) and the
        counts from the graph after writes, at most once every ``catch_up_every`` seconds (both
        cost the whole catalogue: seconds at 20,000 products), on a connection of its own."""
        store = self.store.connection()
        try:
            while self._behind.wait() and not self._closing.is_set():
                self._closing.wait(self.catch_up_every)
                self._behind.clear()
                if self._closing.is_set():
                    break
                writes, index = self._writes, self.index
                self.recommender = self.recommender if self.learned_embeddings else Recommender.from_index(index)
                self.stats = market_stats(store)
                with self._caught_up:
                    self._caught_up_to = writes
                    self._caught_up.notify_all()
        finally:
            store.close()

    def wait_caught_up(self, timeout: float | None = None) -> bool:
        """Wait until the recommender and the counts include every write refreshed so far; False on timeout."""
        writes = self._writes
        with self._caught_up:
            return self._caught_up.wait_for(lambda: self._caught_up_to >= writes, timeout)

    def close(self) -> None:
        """Stop the catching up (the store stays open: its owner closes it)."""
        self._closing.set()
        self._behind.set()
        if self._catching_up is not None:
            self._catching_up.join()

    def candidates(self, listings: list[Listing]) -> dict[str, set[str]]:
        """The products each of a batch's listings is resolved against: the best plain BM25 hits for
        its title (no constraints read from it: resolution judges brands and attributes itself)."""
        return {listing.id: {hit.id for hit in self.index.search(listing.title, None, CANDIDATES, facets=False).hits}
                for listing in listings}


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


#: requests served at once, each in a thread (the writes wait for the writer without one): two keep a core busy
#: while the other's database query runs. More add no work done, only threads that queue for the interpreter's
#: lock, and the writer queues behind them: on bench serve's 2 cores, 2 threads against AnyIO's default 40 gave
#: 218 against 203 reads/s alone (p99 74 against 140 ms), and beside a writer 142 against 128 reads/s (p99 250
#: against 400 ms) while the writer's batches took 1.0 against 2.2 s
THREADS = 2


def create_app(db: Path, tagger: Path | None = None, query_timeout: float = 5.0, kg_embeddings: str | None = None,
               runtime: str = "torch-bf16", *, keys: Path | KeyStore | None = None, rate_limit: float = 100.0, burst: int = 200,
               cors_origins: Sequence[str] = (), writable: bool = False, buffer_pool_mb: int | None = None,
               threads: int = THREADS, substitute_model: Path | None = None) -> FastAPI:
    """The app over the graph at ``db`` (searching with the rules, or with ``tagger`` run by
    ``runtime``; with ``kg_embeddings``, a PyKEEN model trained at start for similar products).
    With ``keys`` (a key store or its file), the API needs a key and allows each key ``rate_limit``
    requests a second with bursts of ``burst`` (``rate_limit=0``: no limit); without, anyone
    who reaches it may call it. ``cors_origins``: the web origins allowed to call it from a browser.
    ``writable``: the graph is opened for writing too, and the write endpoints are served (behind
    the write role when there are keys; :mod:`skugraph.serve.writes`). ``buffer_pool_mb``: the
    graph's page cache (default: LadybugDB's, 80% of the machine's memory). ``threads``: the
    requests run at once (:data:`THREADS`); the others wait their turn, in order.
    ``substitute_model``: the inventory keeps the substitutes this model accepts."""
    key_store = KeyStore(keys) if isinstance(keys, (str, Path)) else keys
    if key_store is not None:
        key_store.records()  # a broken keys file fails at start, not on the first request
    access = Access(key_store, RateLimiter(rate_limit, burst) if key_store is not None and rate_limit > 0 else None, ErrorBody)
    services = Services.open(Path(db), tagger, query_timeout, kg_embeddings, runtime, writable, buffer_pool_mb, substitute_model)
    writer = None
    if writable:
        assert services.reader is not None
        writer = Writer(services.store.connection(), services.reader, WriteLog(writes_file(Path(db))), services.refresh,
                        services.candidates)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        if writer is not None:
            writer.close()
        services.close()

    app = FastAPI(title="skugraph", version=__version__, docs_url=None, lifespan=lifespan,
                  description="Product knowledge graph: search, recommendations, facts with provenance, market analysis.")
    app.state.services = services
    app.state.writer = writer
    app.state.access = access
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"], expose_headers=["Retry-After"])
    app.add_middleware(AccessLog)  # outermost: logs every answer, a 413 or a CORS preflight too
    api = APIRouter(tags=["api"], dependencies=[Depends(access.read)], responses=access.responses)
    swagger = {name: (SWAGGER_UI / name).read_bytes() for name in SWAGGER_FILES}

    @app.get("/swagger/{name}", include_in_schema=False)
    def swagger_file(name: str) -> Response:
        if name not in swagger:
            raise HTTPException(404, f"no file {name!r}")
        return Response(swagger[name], media_type=SWAGGER_FILES[name])

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> str:  # Swagger UI from the installed package: works offline
        return (PAGES / "docs.html").read_text(encoding="utf-8")

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own (a body it cannot parse) as well as ours
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), error.headers)  # 405 keeps its Allow header

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        refused = access.refusal(request)
        if refused is not None:
            return _error(refused.status_code, str(refused.detail), refused.headers)
        reasons = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in error.errors()]
        return _error(422, "; ".join(reasons))

    @app.exception_handler(Exception)
    async def crashed(_: Request, error: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(error).__name__})")

    def product_or_404(product_id: str) -> str:
        if not product_id.strip():
            raise HTTPException(404, "no product id given")
        with services.lock:
            found = product_of(services.store, product_id)
            gone = delisted(services.store, product_id, found)
        if gone:
            raise HTTPException(410, gone)
        if found is None:
            raise HTTPException(404, f"no product or listing {product_id!r}")
        return found

    @api.get("/products/{product_id:path}", summary="A product as the graph knows it (or the product a listing offers)",
             responses=_errors(404, 410))
    def get_product(product_id: str) -> dict:
        found = product_or_404(product_id)
        with services.lock:
            return product_card(services.store, found)

    @api.get("/search", summary="Search products: BM25 plus constraints read from the query; facets",
             responses=_errors(404))
    def search(q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY)], limit: Annotated[int, Query(ge=1, le=100)] = 10,
               brand: Annotated[str | None, Query(description="A brand: key, name or alias (huawei, 华为, HUAWEI)")] = None,
               fits: Annotated[str | None, Query(description="What the product fits: a brand's key, name or alias")] = None,
               type: Annotated[str | None, Query(description="A product type: name or key (手机壳, product_type:手机壳)")] = None,
               colour: Annotated[str | None, Query(description="A colour: name or key (黑色, colour:黑色)")] = None,
               price: Annotated[str | None, Query(description="A price band as the facets write it (100–500)")] = None) -> dict:
        filters = {"brand": brand, "fits": fits, "type": type, "colour": colour, "price": price}
        try:
            # a JSONResponse as it is: FastAPI's encoder would walk the plain JSON again (its schema is the annotation's)
            return JSONResponse(services.index.search(q, services.parser, limit, {k: v for k, v in filters.items() if v}).to_dict())
        except FilterError as error:
            raise HTTPException(404, str(error)) from None

    @api.get("/recommend/{product_id:path}", summary="Similar, complementary and substitute products, with reasons",
             responses=_errors(404, 410))
    def recommend(product_id: str, k: Annotated[int, Query(ge=1, le=50)] = 5) -> dict:
        found = product_or_404(product_id)
        if found not in services.recommender:
            return {"similar": [], "complementary": [], "substitutes": []}
        return JSONResponse(services.recommender.recommend(found, k))  # plain JSON: as search

    @api.get("/facts", summary="Every fact about a product, with structured evidence", responses=_errors(404, 410))
    def facts(product: str) -> dict:
        found = product_or_404(product)
        with services.lock:
            return {"product": found, "facts": product_facts(services.store, found)}

    @api.get("/inventory", summary="Stock and demand per product over its listings: stock-outs with in-stock substitutes, "
             "accessories against their devices' sales, slow movers, reallocation hints")
    def inventory(limit: Annotated[int, Query(ge=1, le=200)] = 20,
                  low_days: Annotated[float, Query(ge=0, le=3650, description="In stock but under this many days of cover: low")] = 7.0,
                  excess_days: Annotated[float, Query(ge=0, le=3650, description="More days of stock than this: excess")] = 90.0) -> dict:
        with services.lock:
            found = inventory_of(services.store, services.recommender, limit=limit, low_days=low_days, excess_days=excess_days,
                                 model=services.substitute_model)
        return JSONResponse(found.to_dict())

    @api.get("/inventory/{product_id:path}", summary="A product's stock and demand over its listings and places; "
             "when it is out of stock, the in-stock products that can stand in for it", responses=_errors(404, 410))
    def product_inventory(product_id: str, k: Annotated[int, Query(ge=1, le=20)] = 3) -> dict:
        found = product_or_404(product_id)
        with services.lock:
            stock = product_inventory_of(services.store, services.recommender, found, k, services.substitute_model)
        if stock is None:
            raise HTTPException(404, f"no stock or sales for product {found}: its listings give neither")
        return JSONResponse(stock)

    @api.get("/stats", summary="Nodes per label, edges per relation, and the expected precision of the facts "
             "(mean confidence, overall and per predicate; whether the confidences are calibrated)")
    def stats() -> dict:
        return services.stats

    @api.post("/extract", summary="Text to mentions and facts (the extractor the server searches with)",
              responses=_errors(400, 413))
    def extract(request: Annotated[ExtractRequest, Body()]) -> dict:
        mentions, built = services.parser.read(request.text, "text")
        return {"mentions": [m.to_dict() for m in mentions], "facts": [f.to_dict() for f in built]}

    @api.post("/query", summary="Read-only Cypher with a time limit", responses=_errors(400, 403, 408, 413))
    def query(request: Annotated[CypherRequest, Body()]) -> dict:
        try:
            check_read_only(request.cypher)
        except ReadOnlyError as error:
            raise HTTPException(403, f"read-only: {error}") from None
        try:
            with services.lock:
                result = read_only_query(services, request.cypher, request.parameters)
        except StoreError as error:
            reason = str(error).splitlines()[0]
            if "interrupt" in reason.lower():
                raise HTTPException(408, f"query stopped after {services.query_timeout:g} s") from None
            raise HTTPException(400, reason) from None
        return {"columns": result.columns, "rows": result.rows[:10_000], "truncated": len(result.rows) > 10_000}

    @api.get("/report", summary="Market analysis: brand share, attribute values, price bands, aspect sentiment, inventory")
    def report() -> dict:
        from skugraph.apps.analytics import market_report

        with services.lock:
            return market_report(services.store, services.recommender, services.substitute_model)

    @app.get("/ui/report", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(access.read)])  # the data of /report
    def report_page() -> str:
        from skugraph.apps.analytics import market_report, report_html

        with services.lock:
            return report_html(market_report(services.store, services.recommender, services.substitute_model))

    @app.get("/ui/api.js", include_in_schema=False)
    def api_script() -> Response:  # the pages' API calls, with the key where the server needs one
        return Response((PAGES / "api.js").read_text(encoding="utf-8"), media_type="text/javascript")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        return (PAGES / "search.html").read_text(encoding="utf-8")

    @app.get("/ui/product/{product_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def product_page(product_id: str) -> str:
        return (PAGES / "product.html").read_text(encoding="utf-8")

    if writer is not None:
        _write_routes(app, api, writer, access)
    app.include_router(api)
    return app


def delisted(store: GraphStore, asked: str, product: str | None) -> str | None:
    """Why ``asked`` answers 410, or None: it names a product no listing offers now (its listings
    delisted, the product kept for its history) or a listing that offers none, in a graph whose
    listings offer products (one loaded without fusion has no offers: nothing in it is delisted)."""
    if product is not None:
        if product != asked or store.query("MATCH (:Listing)-[:OFFER_OF]->(p:Product {id: $id}) RETURN p.id LIMIT 1",
                                           {"id": product}).rows or not holds_offers(store):
            return None
        return f"product {product!r} was delisted: no listing offers it now"
    if store.query("MATCH (l:Listing {id: $id}) RETURN l.id", {"id": asked}).rows and holds_offers(store):
        return f"listing {asked!r} was delisted"
    return None


def read_only_query(services: Services, cypher: str, parameters: dict[str, Any]):
    """Run a query with the time limit; on a writable graph, in a read-only transaction (the
    second wall behind :func:`check_read_only`, as opening the graph read-only is otherwise)."""
    if services.reader is None:
        return services.store.query(cypher, parameters, timeout=services.query_timeout)
    services.store.query("BEGIN TRANSACTION READ ONLY")
    try:
        return services.store.query(cypher, parameters, timeout=services.query_timeout)
    finally:
        try:
            services.store.query("ROLLBACK")
        except StoreError:  # the database already ended it (a query stopped at its time limit)
            pass


#: POST /listings reads its body itself (a JSON array or JSON lines): its schema is declared here
_LISTINGS_BODY = {"required": True, "content": {
    "application/json": {"schema": listings_schema(MAX_LISTINGS),
        "example": [{"id": "shop-1001", "title": "华为 Mate 60 12+256G 蓝色 5G手机", "price": 5999.0, "currency": "CNY",
                     "updated_at": "2026-12-03T10:00:00Z"}]},
    "application/x-ndjson": {"schema": {"type": "string", "pattern": "\\S", "description": "One listing object a line"}}}}
_IDEMPOTENCY = Header(alias="Idempotency-Key", min_length=1, max_length=200,
                      description="A key of the client's choosing: the same key again gets the first answer and writes nothing")


def _write_routes(app: FastAPI, api: APIRouter, writer: Writer, access: Access) -> None:
    """``POST /listings``, ``DELETE /listings/{id}`` (the write role) and ``GET /changes`` (read)."""
    writes = APIRouter(tags=["write"], dependencies=[Depends(access.write)],
                       responses=access.responses | access.write_responses)

    def answered(answer: Answer) -> JSONResponse:
        return JSONResponse(answer.body, answer.code, headers={"Idempotent-Replayed": "true"} if answer.replayed else None)

    @writes.post("/listings", summary="Add or update listings: validated, PII-masked, extracted, fused with the stored "
                 "products and upserted; answered once committed", openapi_extra={"requestBody": _LISTINGS_BODY},
                 responses=_errors(409, 413))
    async def post_listings(request: Request, idempotency_key: Annotated[str | None, _IDEMPOTENCY] = None) -> dict:
        body = await request.body()
        ndjson = request.headers.get("content-type", "").split(";")[0].strip() in ("application/x-ndjson", "application/jsonl")
        try:
            batch = await run_in_threadpool(validate, body, ndjson)
        except BodyError as error:
            raise HTTPException(422, str(error)) from None
        if not batch.listings:  # listings of the right types that ingest turned away, every one: nothing to write
            return {"seq": None, "accepted": 0, "rejected": batch.rejected, "warnings": batch.warnings, "masked": batch.masked,
                    "listings": [], "products": []}
        digest = request_digest("POST", "/listings", batch.canonical.encode())
        return answered(await asyncio.wrap_future(writer.queue_upsert(batch, idempotency_key, digest)))  # no thread held meanwhile

    @writes.delete("/listings/{listing_id:path}", summary="Delist a listing: its facts lose its evidence and those left with "
                   "none are retracted, kept as history", responses=_errors(404, 409))
    async def delete_listing(listing_id: str, idempotency_key: Annotated[str | None, _IDEMPOTENCY] = None) -> dict:
        digest = request_digest("DELETE", f"/listings/{listing_id}", b"")
        return answered(await asyncio.wrap_future(writer.queue_delist(listing_id, idempotency_key, digest)))

    @api.get("/changes", summary="The writes after a sequence number, oldest first: what each did and to which "
             "listings and products (`next`: the cursor for the next page)")
    def changes(since: Annotated[int, Query(ge=0, le=2**63 - 1, description="The `seq` of the last write seen (0: from the first)")] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
        found = writer.log.feed(since, limit + 1)
        page = found[:limit]
        return {"changes": page, "next": page[-1]["seq"] if page else since, "more": len(found) > limit}

    app.include_router(writes)
