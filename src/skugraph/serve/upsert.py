"""A batch of listings into a stored graph: extracted, resolved against the stored products,
fused and upserted in one load (the write path of ``POST /listings``)."""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from skugraph.extract import ListingReader
from skugraph.graph.store import GraphStore, LoadReport
from skugraph.records import Fact, Listing, Mention


class CachedReader:
    """A reader that remembers what it read: the stored listings a write is resolved against
    come back write after write (a listing is its own key: another text is another read).
    At most ``size`` listings are kept, the least recently read dropped first."""

    def __init__(self, reader: ListingReader, size: int = 100_000):
        self.reader, self.size = reader, size
        self._read: OrderedDict[Listing, tuple[list[Mention], list[Fact]]] = OrderedDict()

    def read(self, listings: Sequence[Listing]) -> list[tuple[list[Mention], list[Fact]]]:
        missing = list(dict.fromkeys(listing for listing in listings if listing not in self._read))
        if missing:
            self._read.update(zip(missing, self.reader.read(missing), strict=True))
        for listing in listings:
            self._read.move_to_end(listing)
        while len(self._read) > self.size:
            self._read.popitem(last=False)
        return [self._read[listing] for listing in listings]


@dataclass
class UpsertReport:
    """What :func:`upsert_listings` did: each listing's product, why it is there, and the load."""

    products: dict[str, str]  # listing id → its product
    evidence: dict[str, str]  # listing id → why entity resolution put it there
    joined: set[str]  # listings that joined a stored product
    load: LoadReport
    before: set[str]  # the products the batch's stored listings offered before it
    unchanged: bool = False  # the batch changed nothing: every listing as stored, every fact and offer as it was

    @property
    def touched(self) -> set[str]:
        """The products whose listings or facts the batch may have changed."""
        return set(self.products.values()) | self.before


def upsert_listings(store: GraphStore, listings: Sequence[Listing], reader: ListingReader | CachedReader, candidates: Iterable[str] = (),
                    matcher=None, threshold: float | None = None) -> UpsertReport:
    """Extract, fuse and load a batch of ingested listings into a stored graph, one load (an
    update is one transaction, :meth:`~skugraph.graph.ladybug_store.LadybugStore.load_tables`).

    The batch is resolved (:func:`~skugraph.fusion.resolve.resolve_products`) together with the
    stored listings of the ``candidates`` products and of the products the batch's stored
    listings offer now, read again by ``reader`` for their offers only (they are not loaded).
    A new listing that the matcher puts with stored listings joins their product (the smallest
    id of theirs, when they offer several); the others are products of their own, named as
    resolution names them. Then :func:`~skugraph.fusion.fuse.fuse_facts` moves the batch's
    facts onto those products and :meth:`~skugraph.graph.store.GraphStore.load` upserts them:
    a stored listing given again is a new version (what it no longer says is retracted, kept
    as history). Values are voted within the batch, not again over the stored product's
    listings, and no KG completion runs: a build over the whole catalogue does both."""
    from skugraph.fusion.fuse import fuse_facts
    from skugraph.fusion.resolve import Resolution, resolve_products

    ids = sorted({listing.id for listing in listings})
    held = {row[0] for row in store.query("MATCH (l:Listing)-[:OFFER_OF]->(p:Product) WHERE l.id IN $ids RETURN p.id",
                                          {"ids": ids}).rows}
    rows = store.query(
        "MATCH (l:Listing)-[:OFFER_OF]->(p:Product) WHERE p.id IN $products AND NOT l.id IN $ids RETURN l.id, l.title, "
        "l.description, l.category, l.price, l.currency, l.source, l.updated_at, p.id, p.title ORDER BY l.id",
        {"products": sorted(held | set(candidates)), "ids": ids}).rows
    stored = [Listing(lid, title or "", description or "", category=category or "", price=price, currency=currency or "",
                      source=source or "", updated_at=updated) for lid, title, description, category, price, currency, source,
              updated, _, _ in rows]
    stored_product = {row[0]: row[8] for row in rows}
    titles = {row[8]: row[9] or "" for row in rows}
    read = [found for _, found in reader.read([*listings, *stored])]
    resolution = resolve_products([*listings, *stored], [fact for found in read for fact in found], matcher,
                                  threshold=threshold, ontology=store.ontology)
    members: dict[str, list[str]] = {}
    for listing, cluster in resolution.product_of.items():
        members.setdefault(cluster, []).append(listing)
    products, evidence, confidence, joined = {}, {}, {}, set()
    for listing in listings:
        cluster = resolution.product_of[listing.id]
        theirs = sorted({stored_product[m] for m in members[cluster] if m in stored_product})
        products[listing.id] = theirs[0] if theirs else cluster
        evidence[listing.id], confidence[listing.id] = resolution.evidence[listing.id], resolution.confidence[listing.id]
        if theirs:
            joined.add(listing.id)
            if cluster == listing.id:  # it heads the cluster resolution made; it joins the stored product through its best match
                best = max((p for p in resolution.pairs if listing.id in (p.left, p.right)
                            and resolution.product_of[p.right if p.left == listing.id else p.left] == cluster),
                           key=lambda p: p.score, default=None)
                if best is not None:
                    other = best.right if best.left == listing.id else best.left
                    evidence[listing.id], confidence[listing.id] = f"matches {other} (score {best.score:.2f})", best.score
    fused = fuse_facts(listings, [fact for found in read[: len(listings)] for fact in found],
                       Resolution(products, evidence, confidence), store.ontology, titles)
    around = sorted(held | set(products.values()))
    was = _edges(store, around)
    report = UpsertReport(products, evidence, joined, store.load(listings, fused), held)
    _count_listings_again(store, sorted({products[listing] for listing in joined}))
    load = report.load
    report.unchanged = not (load.versions or load.changed or load.retracted) and _edges(store, around) == was
    return report


def _edges(store: GraphStore, products: list[str]) -> list[list]:
    """Every edge of the ``products`` (facts and offers, either way) with what it says: what a
    write that changed nothing leaves as it was."""
    return store.query("MATCH (p:Product)-[r]-(x) WHERE p.id IN $ids RETURN p.id, label(r), x.id, r.evidence, r.confidence, "
                       "r.provenance ORDER BY p.id, label(r), x.id, r.provenance", {"ids": products}).rows


def _count_listings_again(store: GraphStore, products: list[str]) -> None:
    """The products listings joined: the evidence of each one's first listing ("the only listing
    of this product", "the first of 2 listings …") counts its listings as they are now."""
    if not products:
        return
    rows = store.query("MATCH (l:Listing)-[o:OFFER_OF]->(p:Product) WHERE p.id IN $ids RETURN p.id, l.id, o.evidence",
                       {"ids": products}).rows
    count = Counter(product for product, _, _ in rows)
    for product, listing, said in rows:
        now = f"the first of {count[product]} listings of this product"
        if said and said != now and said.startswith(("the only listing of this product", "the first of ")):
            store.query("MATCH (:Listing {id: $listing})-[o:OFFER_OF]->(:Product {id: $product}) SET o.evidence = $now",
                        {"listing": listing, "product": product, "now": now})
