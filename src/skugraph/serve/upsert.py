"""A batch of listings into a stored graph: extracted, resolved against the stored products,
fused and upserted in one load (the write path of ``POST /listings``)."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from skugraph.extract import ListingReader
from skugraph.facts.ontology import Ontology
from skugraph.graph.store import GraphStore, LoadReport
from skugraph.records import Fact, Listing, Mention


class CachedReader:
    """A reader that remembers what it read: the stored listings a write is resolved against
    come back write after write. A listing is kept by what a reader reads of it (id, title,
    description, category, reviews): another text is another read, while a new price, currency,
    source or time, which no extractor reads, is not. At most ``size`` listings are kept, the
    least recently read dropped first."""

    def __init__(self, reader: ListingReader, size: int = 100_000):
        self.reader, self.size = reader, size
        self._read: OrderedDict[tuple, tuple[list[Mention], list[Fact]]] = OrderedDict()

    def read(self, listings: Sequence[Listing]) -> list[tuple[list[Mention], list[Fact]]]:
        keys = [_read_key(listing) for listing in listings]
        missing = list({key: listing for key, listing in zip(keys, listings, strict=True) if key not in self._read}.items())
        if missing:
            self._read.update(zip([key for key, _ in missing], self.reader.read([listing for _, listing in missing]), strict=True))
        for key in keys:
            self._read.move_to_end(key)
        while len(self._read) > self.size:
            self._read.popitem(last=False)
        return [self._read[key] for key in keys]


class StoredOffers:
    """The stored listings of products as a write reads them (the rows of :data:`OFFERS`), kept
    between writes by the one writer: a product's are read from the graph once, until a write
    touches it (:meth:`forget`, after its commit). At most ``size`` products are kept."""

    def __init__(self, size: int = 20_000):
        self.size = size
        self._rows: OrderedDict[str, list[list]] = OrderedDict()

    def rows(self, store: GraphStore, products: Iterable[str]) -> list[list]:
        """The rows of the listings that offer ``products``, by listing id."""
        products = sorted(set(products))
        missing = [product for product in products if product not in self._rows]
        for product in missing:
            self._rows[product] = []
        for row in store.query_each(OFFERS, missing) if missing else ():
            self._rows[row[8]].append(row)
        for product in products:
            self._rows.move_to_end(product)
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)
        return sorted((row for product in products for row in self._rows.get(product, ())), key=lambda row: row[0])

    def forget(self, products: Iterable[str]) -> None:
        """Products whose listings a committed write may have changed: read again next time."""
        for product in products:
            self._rows.pop(product, None)


#: a product's stored listings as a write reads them: listing fields, then the product's id and title
OFFERS = ("MATCH (l:Listing)-[:OFFER_OF]->(p:Product {id: $key}) RETURN l.id, l.title, l.description, l.category, l.price, "
          "l.currency, l.source, l.updated_at, p.id, p.title")


def _read_key(listing: Listing) -> tuple:
    """What of a listing its reading depends on."""
    return listing.id, listing.title, listing.description, listing.category, listing.reviews


@dataclass
class UpsertReport:
    """What :func:`upsert_listings` did: each listing's product, why it is there, and the load."""

    products: dict[str, str]  # listing id → its product
    evidence: dict[str, str]  # listing id → why entity resolution put it there
    joined: set[str]  # listings that joined a stored product
    load: LoadReport
    held: dict[str, str] = field(default_factory=dict)  # each stored listing of the batch → the product it offered before
    unchanged: bool = False  # the batch changed nothing: every listing as stored, every fact and offer as it was

    @property
    def before(self) -> set[str]:
        """The products the batch's stored listings offered before it."""
        return set(self.held.values())

    @property
    def touched(self) -> set[str]:
        """The products whose listings or facts the batch may have changed."""
        return set(self.products.values()) | self.before

    def part(self, ids: set[str]) -> UpsertReport:
        """What the write did for the listings ``ids`` of its batch (requests written together in
        one transaction: each one's answer): their products and evidence, the new versions, value
        changes and retractions that are theirs, and whether they changed anything: unchanged when
        none of them is a new version, changed a value or dropped a fact, and each offers the
        product it offered (what other listings did to that product is theirs)."""
        load = self.load
        retractions = {key: listings for key, listings in load.retractions.items() if ids.intersection(listings)}
        changed_by = {listing: count for listing, count in load.changed_by.items() if listing in ids}
        own = LoadReport(versions=load.versions & ids, changed=sum(changed_by.values()), changed_by=changed_by,
                         retracted=len(retractions), retractions=retractions)
        report = UpsertReport({i: self.products[i] for i in ids}, {i: self.evidence[i] for i in ids}, self.joined & ids, own,
                              {i: self.held[i] for i in ids if i in self.held})
        report.unchanged = not (own.versions or own.changed or own.retracted) and all(
            self.held.get(i) == self.products[i] for i in ids)
        return report


def upsert_listings(store: GraphStore, listings: Sequence[Listing], reader: ListingReader | CachedReader,
                    candidates: Mapping[str, Iterable[str]] | Callable[[list[Listing]], Mapping[str, Iterable[str]]] | None = None,
                    matcher=None, threshold: float | None = None, placer: Placer | None = None,
                    offers: StoredOffers | None = None) -> UpsertReport:
    """Extract, fuse and load a batch of ingested listings into a stored graph, one load (an
    update is one transaction, :meth:`~skugraph.graph.ladybug_store.LadybugStore.load_tables`).

    The batch is resolved (:func:`~skugraph.fusion.resolve.resolve_products`) together with the
    stored listings of each one's ``candidates`` (listing id → products) and of the product it
    offers now, read again by ``reader`` for their offers only (they are not loaded), as
    settled: two of them are not judged again, only pairs with a listing of the batch, and a
    listing of the batch only with the stored listings of its own candidates and product (so
    what a listing joins does not hang on the batch it came in). ``candidates`` may be a function
    of the listings to resolve. A stored listing posted with the text it has (title,
    description and category: a new price, say) keeps its product and evidence, settled too: it
    is not resolved again, so its own candidates are neither looked up nor read.
    A listing, new or stored, that the matcher puts with stored listings joins their product (the
    smallest id of theirs, when they offer several: a stored listing given a title that now
    matches another product's listings moves there, and its own product, left with none, goes);
    the others keep the product they offer, or are products of their own, named as resolution
    names them. Then :func:`~skugraph.fusion.fuse.fuse_facts` moves the batch's
    facts onto those products and :meth:`~skugraph.graph.store.GraphStore.load` upserts them:
    a stored listing given again is a new version (what it no longer says is retracted, kept
    as history). Values are voted within the batch, not again over the stored product's
    listings, and no KG completion runs: a build over the whole catalogue does both. ``placer``:
    a :class:`Placer` that reads, resolves and fuses (:func:`place`) in another process; ``offers``:
    the stored listings of products kept from earlier writes (:class:`StoredOffers`; the caller
    forgets the products a committed write touched)."""
    ids = sorted({listing.id for listing in listings})
    held_rows = store.query_each("MATCH (l:Listing {id: $key})-[o:OFFER_OF]->(p:Product) RETURN l.id, p.id, p.title, "
                                 "o.evidence, o.confidence, l.title, l.description, l.category", ids)
    held_by = {row[0]: row[1] for row in held_rows}
    as_stored = {row[0]: (row[5] or "", row[6] or "", row[7] or "") for row in held_rows}
    changed = {listing.id for listing in listings if as_stored.get(listing.id) != (listing.title, listing.description, listing.category)}
    kept = {row[0]: Kept(row[1], row[3] or "", 1.0 if row[4] is None else float(row[4])) for row in held_rows if row[0] not in changed}
    resolved = sorted(changed)
    if callable(candidates):
        candidates = candidates([listing for listing in listings if listing.id in changed]) if changed else {}
    candidates = {i: set(found) for i, found in (candidates or {}).items() if i in changed}
    around = {held_by[i] for i in resolved if i in held_by}.union(*candidates.values())
    posted = set(ids)
    rows = [row for row in (offers or StoredOffers()).rows(store, around) if row[0] not in posted]
    stored = [Listing(lid, title or "", description or "", category=category or "", price=price, currency=currency or "",
                      source=source or "", updated_at=updated) for lid, title, description, category, price, currency, source,
              updated, _, _ in rows]
    stored_product = {row[0]: row[8] for row in rows}
    titles = {row[8]: row[9] or "" for row in rows} | {row[1]: row[2] or "" for row in held_rows if row[0] in kept}
    reach = {i: {*candidates.get(i, ()), *([held_by[i]] if i in held_by else [])} for i in resolved}
    job = (listings, stored, stored_product, titles, store.ontology)
    placed = (placer(*job, matcher, threshold, reach, held_by, kept) if placer
              else place(*job, reader, matcher, threshold, reach, held_by, kept))
    products, evidence, joined, fused = placed.products, dict(placed.evidence), placed.joined, placed.fused
    around = sorted(set(held_by.values()) | set(products.values()))
    loaded = store.load(listings, fused)
    settled = settle_evidence(store, reader, around, matcher, threshold)
    evidence.update({listing.id: settled[listing.id] for listing in listings if listing.id in settled})
    report = UpsertReport(products, evidence, joined, loaded, held_by)
    report.unchanged = report.part(set(ids)).unchanged
    return report


@dataclass(frozen=True)
class Kept:
    """A stored listing posted with its stored text: the product it stays in, and why."""

    product: str
    evidence: str
    confidence: float


@dataclass
class Placement:
    """Where :func:`place` put a batch's listings, and their facts fused onto those products."""

    products: dict[str, str]  # listing id → its product
    evidence: dict[str, str]  # listing id → why it is there
    joined: set[str]  # listings that joined a stored product
    fused: list[Fact]


def place(listings: Sequence[Listing], stored: Sequence[Listing], stored_product: dict[str, str], titles: dict[str, str],
          ontology: Ontology, reader: ListingReader | CachedReader, matcher=None, threshold: float | None = None,
          reach: Mapping[str, Collection[str]] | None = None, held: Mapping[str, str] | None = None,
          kept: Mapping[str, Kept] | None = None) -> Placement:
    """The graph-free part of a write: read the batch and the ``stored`` listings (offering
    ``stored_product``, settled), resolve them (the listings ``kept`` as they are stored are
    settled too, and stay where they are), put each listing of the batch in its product
    (a stored one it joins: the smallest id of those its cluster's stored listings offer, else of
    those its listings already in the graph offer, ``held``; else its own: a stored listing that
    now matches another product's listings, and no other listing of its own product, moves to
    theirs) and fuse its facts
    there. A listing joined a product when that product was stored and it did not offer it."""
    from skugraph.fusion.fuse import fuse_facts
    from skugraph.fusion.resolve import Resolution, resolve_products

    kept = kept or {}
    read = [found for _, found in reader.read([*listings, *stored])]
    if all(listing.id in kept for listing in listings):  # nothing to resolve
        resolution = Resolution({i: k.product for i, k in kept.items()}, {i: k.evidence for i, k in kept.items()},
                                {i: k.confidence for i, k in kept.items()})
    else:
        resolution = resolve_products([*listings, *stored], [fact for found in read for fact in found], matcher, threshold=threshold,
                                      ontology=ontology, settled=stored_product | {i: k.product for i, k in kept.items()},
                                      reach=reach)
    members: dict[str, list[str]] = {}
    for listing, cluster in resolution.product_of.items():
        members.setdefault(cluster, []).append(listing)
    held = held or {}
    facts_of = {listing.id: found for listing, found in zip([*listings, *stored], read, strict=True)}
    titles_of = {listing.id: listing.title for listing in [*listings, *stored]}
    products, evidence, confidence, joined = {}, {}, {}, set()
    for listing in listings:
        if listing.id in kept:
            products[listing.id] = kept[listing.id].product
            evidence[listing.id], confidence[listing.id] = kept[listing.id].evidence, kept[listing.id].confidence
            continue
        cluster = resolution.product_of[listing.id]
        # the stored products its cluster's stored listings offer; with none, the products the batch's own listings offer
        theirs = sorted({stored_product[m] for m in members[cluster] if m in stored_product}
                        or {held[m] for m in members[cluster] if m in held})
        products[listing.id] = theirs[0] if theirs else cluster
        evidence[listing.id], confidence[listing.id] = resolution.evidence[listing.id], resolution.confidence[listing.id]
        if theirs and held.get(listing.id) != products[listing.id]:
            joined.add(listing.id)
        if theirs and cluster == listing.id:  # it heads the cluster resolution made: it is in the product through
            # its best match with a listing the product held before (the cluster's others link towards it: naming one
            # of them would go round)
            product = products[listing.id]
            best = max((p for p in resolution.pairs if listing.id in (p.left, p.right)
                        and _offered(p.right if p.left == listing.id else p.left, stored_product, kept) == product),
                       key=lambda p: p.score, default=None)
            if best is not None:
                other = best.right if best.left == listing.id else best.left
                evidence[listing.id], confidence[listing.id] = _matched(listing.id, other, best.score, facts_of, titles_of, ontology), best.score
    fused = fuse_facts(listings, [fact for found in read[: len(listings)] for fact in found],
                       Resolution(products, evidence, confidence), ontology, titles)
    return Placement(products, evidence, joined, fused)


def _offered(listing: str, stored_product: Mapping[str, str], kept: Mapping[str, Kept]) -> str | None:
    """The product a settled listing of a write offers (stored, or posted as stored), else None."""
    return kept[listing].product if listing in kept else stored_product.get(listing)


def _matched(listing: str, other: str, score: float, facts_of: Mapping[str, list[Fact]], titles: Mapping[str, str],
             ontology: Ontology) -> str:
    """A listing's evidence for the match that put it in its product, with the identity reason."""
    from skugraph.fusion.blocking import offers_from
    from skugraph.fusion.identity import identity

    ours, theirs = offers_from([Listing(listing, titles[listing]), Listing(other, titles[other])],
                               [*facts_of[listing], *facts_of[other]], ontology)
    verdict = identity(ours, theirs)
    return f"matches {other} (score {score:.2f}{'; ' + verdict.reason if verdict.same and verdict.reason else ''})"


class Placer:
    """:func:`place` in a process of its own (spawned), which keeps a :class:`CachedReader` of
    ``reader``: a write's extraction and resolution leave the server's interpreter to its readers
    (one process's Python runs one thread at a time). A worker that died is started again."""

    def __init__(self, reader: ListingReader):
        self.reader = reader
        self._pool = self._start()

    def _start(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_placer,
                                   initargs=(self.reader, os.getpid()))
        pool.submit(os.getpid)  # the worker starts now (a tagger's takes seconds to load), not with the first write
        return pool

    def __call__(self, listings: Sequence[Listing], stored: Sequence[Listing], stored_product: dict[str, str],
                 titles: dict[str, str], ontology: Ontology, matcher=None, threshold: float | None = None,
                 reach: Mapping[str, Collection[str]] | None = None, held: Mapping[str, str] | None = None,
                 kept: Mapping[str, Kept] | None = None) -> Placement:
        """:func:`place` with the worker's reader."""
        from concurrent.futures.process import BrokenProcessPool

        job = (list(listings), list(stored), stored_product, titles, ontology, matcher, threshold, reach, held, kept)
        try:
            return self._pool.submit(_place_in_worker, *job).result()
        except BrokenProcessPool:
            self._pool = self._start()
            return self._pool.submit(_place_in_worker, *job).result()

    def read_ahead(self, listings: Sequence[Listing]) -> None:
        """Have the worker read ``listings`` now, for a write still queued: its reader keeps what it
        read, so that write's placement finds them read (a tagger's reading is most of a placement,
        and the worker would otherwise wait while the writer's transaction runs). Not waited for;
        a failure here is the write's own to meet and report."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            self._pool.submit(_read_in_worker, list(listings))
        except (BrokenProcessPool, RuntimeError):  # a dead worker is started again by the write; a closed pool reads no more
            pass

    def close(self) -> None:
        self._pool.shutdown()


_placer_reader: CachedReader | None = None


def _start_placer(reader: ListingReader, server: int) -> None:
    global _placer_reader
    if "torch" in sys.modules:  # a tagger's reader brought it: one thread, beside the server's
        sys.modules["torch"].set_num_threads(1)
    _placer_reader = CachedReader(reader)
    threading.Thread(target=_exit_without, args=(server,), name="skugraph-placer-watch", daemon=True).start()


def _exit_without(server: int) -> None:
    """End this worker once the server that started it is gone (a server killed with SIGKILL
    stops nothing; its worker would live on, holding its output open)."""
    while os.getppid() == server:
        time.sleep(0.5)
    os._exit(0)


def _read_in_worker(listings: list[Listing]) -> None:
    _placer_reader.read(listings)


def _place_in_worker(listings, stored, stored_product, titles, ontology, matcher, threshold, reach, held, kept) -> Placement:
    return place(listings, stored, stored_product, titles, ontology, _placer_reader, matcher, threshold, reach, held, kept)


#: the listing a listing's evidence says it matched (resolution's "matches X (score …", or a settled "closest to X (score …")
_NAMED = re.compile(r"(?:matches|closest to) (.+?) \(score ")
#: the listing a lone listing's evidence says it was kept apart from
_APART = re.compile(r"; kept apart from (.+?) \(titles ")


def settle_evidence(store: GraphStore, reader: ListingReader | CachedReader, products: Iterable[str], matcher=None,
                    threshold: float | None = None) -> dict[str, str]:
    """After a write, make the evidence of the ``products``' listings (``OFFER_OF.evidence``) a tree
    of listings on the market: the product's namesake listing (else its smallest id) heads it ("the
    only listing of this product", "the first of N listings …", counted as they are now), and each
    other listing names a listing of the same product along a chain that ends there. Evidence that
    still does is kept; a listing whose evidence names a listing delisted or gone elsewhere, or goes
    round (a listing posted again matched one that had matched it), names instead its best-scored
    listing among those that reach the head ("matches X (score …)", or "closest to X (score …)"
    when that is under the matcher's threshold: the write path does not split a product). A lone
    listing's "kept apart from X" is dropped once X is off the market. Returns each listing's evidence."""
    from skugraph.fusion.blocking import offers_from
    from skugraph.fusion.identity import AttributeMatcher, Judge

    rows = sorted(store.query_each("MATCH (l:Listing)-[o:OFFER_OF]->(p:Product {id: $key}) RETURN p.id, l.id, o.evidence, l.title, "
                                   "l.description, l.category, l.price, l.currency, l.source, l.updated_at", sorted(set(products))),
                  key=lambda row: row[1])
    said: dict[str, dict[str, str]] = {}
    for product, listing, evidence, *_ in rows:
        said.setdefault(product, {})[listing] = evidence or ""
    apart = sorted({m[1] for _, _, evidence, *_ in rows if evidence and (m := _APART.search(evidence))})
    offering = {row[0] for row in store.query("MATCH (l:Listing)-[:OFFER_OF]->(:Product) WHERE l.id IN $ids RETURN l.id",
                                              {"ids": apart}).rows} if apart else set()
    if matcher is None:
        matcher, threshold = AttributeMatcher(), 0.75 if threshold is None else threshold
    elif threshold is None:
        threshold = float(getattr(matcher, "threshold", 0.5))
    found: dict[str, str] = {}
    for product, theirs in said.items():
        head = product if product in theirs else min(theirs)
        now = dict(theirs)
        now[head] = "the only listing of this product" if len(theirs) == 1 else f"the first of {len(theirs)} listings of this product"
        kept = _APART.search(theirs[head])
        if len(theirs) == 1 and theirs[head].startswith(now[head] + "; ") and kept and kept[1] in offering:
            now[head] = theirs[head]
        parent = {listing: m[1] for listing, text in theirs.items()
                  if listing != head and (m := _NAMED.match(text)) and m[1] in theirs and m[1] != listing}

        def reaches(listing: str) -> bool:
            seen = {listing}
            while listing != head and listing in parent and parent[listing] not in seen:
                listing = parent[listing]
                seen.add(listing)
            return listing == head

        left = [listing for listing in theirs if not reaches(listing)]
        if left:
            ids = list(theirs)
            listed = [_listing(row) for row in rows if row[0] == product]
            read = reader.read(listed)
            offers = offers_from(listed, [fact for _, facts in read for fact in facts], store.ontology)
            judge, at = Judge(offers), {listing: i for i, listing in enumerate(ids)}
            reached = [listing for listing in ids if listing not in left]
            while left:
                pairs = [(u, r) for u in left for r in reached]
                scores = matcher.scores([(offers[at[u]], offers[at[r]]) for u, r in pairs])
                scored = [(0.0 if judge(at[u], at[r]).veto else float(score), u, r) for (u, r), score in zip(pairs, scores, strict=True)]
                score, u, r = max(scored, key=lambda found: (found[0], found[1] == min(left), -ids.index(found[2])))
                verdict = judge(at[u], at[r])
                why = "; " + verdict.reason if verdict.same else ""
                now[u] = f"{'matches' if score >= threshold else 'closest to'} {r} (score {score:.2f}{why})"
                parent[u] = r
                reached += [listing for listing in left if reaches(listing)]
                left = [listing for listing in left if listing not in reached]
        for listing, text in now.items():
            if text != theirs[listing]:
                confidence = 1.0 if listing == head else round(float(_SCORE.search(text)[1]), 4)
                store.query("MATCH (:Listing {id: $listing})-[o:OFFER_OF]->(:Product {id: $product}) "
                            "SET o.evidence = $text, o.confidence = $confidence",
                            {"listing": listing, "product": product, "text": text, "confidence": confidence})
        found |= now
    return found


_SCORE = re.compile(r"\(score (\d+(?:\.\d+)?)")


def _listing(row: list) -> Listing:
    """A stored listing from a row of :func:`settle_evidence`'s query (product first)."""
    _, listing, _, title, description, category, price, currency, source, updated = row
    return Listing(listing, title or "", description or "", category=category or "", price=price, currency=currency or "",
                   source=source or "", updated_at=updated)
