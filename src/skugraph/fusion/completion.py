"""Knowledge-graph completion, evaluated: a PyKEEN embedding model (RotatE by default)
trained on the graph's facts, scored on how well it ranks values it was not shown. (Proposing
the missing values as facts marked ``inferred`` is not built yet.)

Evaluation hides a share of the attribute edges, trains on the rest, and ranks each hidden
value among the values of its kind (filtered: other known values of that product and kind
do not count against it): MRR and Hits@1/10, beside a popularity baseline that ranks the
values of a kind by how many products have them.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from skugraph.records import Fact

Triple = tuple[str, str, str]  # (head ref, relation, tail ref)
COMPLETED = ("colour", "material", "capacity", "size", "compatible_with")  # relations evaluated by default


def triples_of(facts: Sequence[Fact]) -> list[Triple]:
    """(subject, predicate, object) references of the facts, once each."""
    return sorted({(f.subject.ref, f.predicate, f.object.ref) for f in facts})


@dataclass
class CompletionReport:
    hidden: int
    model: dict  # mrr, hits_at_1, hits_at_10
    popularity: dict
    per_relation: dict


def split(triples: Sequence[Triple], relations: Sequence[str], share: float = 0.1, seed: int = 0) -> tuple[list[Triple], list[Triple]]:
    """(kept, hidden): ``share`` of the triples of ``relations`` hidden, never a head's or tail's
    only triple (the model must know both ends)."""
    rng = random.Random(seed)
    candidates = [t for t in triples if t[1] in relations]
    rng.shuffle(candidates)
    degree = Counter(e for t in triples for e in (t[0], t[2]))
    hidden: set[Triple] = set()
    for triple in candidates:
        if len(hidden) >= share * len(candidates):
            break
        if degree[triple[0]] > 1 and degree[triple[2]] > 1:
            hidden.add(triple)
            degree[triple[0]] -= 1
            degree[triple[2]] -= 1
    return [t for t in triples if t not in hidden], sorted(hidden)


def train_model(triples: Sequence[Triple], model: str = "RotatE", epochs: int = 200, dim: int = 64, seed: int = 0):
    """A PyKEEN model trained on ``triples``; returns (model, triples factory)."""
    from pykeen.models import model_resolver
    from pykeen.training import SLCWATrainingLoop
    from pykeen.triples import TriplesFactory

    torch.manual_seed(seed)
    factory = TriplesFactory.from_labeled_triples(np.array(triples, dtype=str), create_inverse_triples=False)
    trained = model_resolver.make(model, triples_factory=factory, embedding_dim=dim, random_seed=seed)
    loop = SLCWATrainingLoop(model=trained, triples_factory=factory, optimizer=torch.optim.Adam(trained.parameters(), lr=0.01))
    loop.train(triples_factory=factory, num_epochs=epochs, batch_size=256, use_tqdm=False)
    return trained.eval(), factory


def tail_scores(model, factory, head: str, relation: str, candidates: Sequence[str]) -> np.ndarray:
    """The model's scores of (head, relation, candidate) for each candidate (higher is likelier)."""
    h = factory.entity_to_id[head]
    r = factory.relation_to_id[relation]
    ids = torch.tensor([factory.entity_to_id[c] for c in candidates])
    batch = torch.stack([torch.full_like(ids, h), torch.full_like(ids, r), ids], dim=1)
    with torch.inference_mode():
        return model.score_hrt(batch).squeeze(-1).numpy()


def evaluate(triples: Sequence[Triple], relations: Sequence[str] = COMPLETED, share: float = 0.1, model: str = "RotatE",
             epochs: int = 200, dim: int = 64, seed: int = 0) -> CompletionReport:
    """Hide ``share`` of the edges of ``relations``, train on the rest, rank each hidden tail."""
    kept, hidden = split(triples, relations, share, seed)
    trained, factory = train_model(kept, model, epochs, dim, seed)
    known: dict[tuple[str, str], set[str]] = defaultdict(set)
    for h, r, t in triples:
        known[(h, r)].add(t)
    popularity: dict[str, Counter] = defaultdict(Counter)
    for h, r, t in kept:
        popularity[r][t] += 1
    ranks = {"model": [], "popularity": []}
    by_relation: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"model": [], "popularity": []})
    for h, r, t in hidden:
        candidates = [c for c in popularity[r] if c == t or c not in known[(h, r)]]
        if t not in popularity[r] or h not in factory.entity_to_id:
            model_rank = pop_rank = len(candidates) + 1  # never seen in training: ranked last
        else:
            scores = tail_scores(trained, factory, h, r, candidates)
            truth = scores[candidates.index(t)]
            model_rank = 1 + int((scores > truth).sum())
            pop_rank = 1 + sum(popularity[r][c] > popularity[r][t] for c in candidates)
        for name, rank in (("model", model_rank), ("popularity", pop_rank)):
            ranks[name].append(rank)
            by_relation[r][name].append(rank)
    return CompletionReport(len(hidden), _metrics(ranks["model"]), _metrics(ranks["popularity"]),
                            {r: {name: _metrics(v) for name, v in d.items()} for r, d in sorted(by_relation.items())})


def _metrics(ranks: list[int]) -> dict:
    if not ranks:
        return {"mrr": 0.0, "hits_at_1": 0.0, "hits_at_10": 0.0, "count": 0}
    array = np.array(ranks, dtype=float)
    return {"mrr": round(float((1 / array).mean()), 4), "hits_at_1": round(float((array <= 1).mean()), 4),
            "hits_at_10": round(float((array <= 10).mean()), 4), "count": len(ranks)}
