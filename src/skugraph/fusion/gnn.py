"""A graph neural network over the product graph (PyTorch Geometric): node embeddings for
KG completion and as a signal for product identity.

The graph is the facts' triples as an undirected graph (a product linked to its values, brands,
the models it fits …). Each node starts from an embedding of its own, but a node that is the
subject of a triple (a product) starts from zero and is only what its neighbours make it, so one
with few facts is not fitted to them alone (1.58× popularity against 1.54× with free product
embeddings, ad hoc on seed 1 of ``benchmarks/completion.py``).
``layers`` rounds of LightGCN propagation (:class:`LGConv`: the neighbours' sum, each weighted
by 1/√(degree of both ends)) smooth them, and a node's embedding is the mean over the rounds.
A triple (h, r, t) scores ``<z_h ⊙ w_r, z_t> + b_t``: a diagonal per relation and a bias per
value. Training is one-against-all: for each known (h, r, t), cross-entropy of t among every
value r has (the ranking completion asks for), full batch, Adam, dropout on the node vectors
before each round, in fp32 on the CPU. Each epoch scores a random share (``held_out``) of the
triples trained on, every edge between their two ends taken out of the graph the messages pass
over (an accessory's ``accessory_of`` beside its ``compatible_with``): a product that starts
from its neighbours would otherwise hold the very value it is asked for, where completion asks
for a value whose edge is missing (see docs/benchmarks/quality.md for what it gains). A
relation whose values are nearly all one subject's own (a product's reviews, its model code:
fewer than :data:`SHARED` subjects a value) carries messages but is not trained on: there is
nothing to rank, and its one-against-all would cost the square of its size. The whole graph is
in memory each epoch: this is for graphs of up to a few hundred thousand triples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

Triple = tuple[str, str, str]
#: subjects a value of a relation at least, on average, for the relation to be trained on
SHARED = 1.1


@dataclass
class GNNConfig:
    dim: int = 64
    layers: int = 2
    epochs: int = 150
    lr: float = 0.01
    dropout: float = 0.2
    held_out: float = 0.5  # the share of the triples trained on scored each epoch, out of the graph: above 0, under 1
    seed: int = 0


class GraphEncoder(torch.nn.Module):
    """Node embeddings propagated over the graph, a diagonal per relation, a bias per node."""

    def __init__(self, nodes: int, relations: int, heads: torch.Tensor, config: GNNConfig):
        from torch_geometric.nn import LGConv

        super().__init__()
        self.config = config
        self.embedding = torch.nn.Embedding(nodes, config.dim)
        torch.nn.init.normal_(self.embedding.weight, std=0.1)
        own = torch.ones(nodes, 1)
        own[heads] = 0.0
        self.register_buffer("own", own)  # 0 for a node that starts from its neighbours alone
        self.convs = torch.nn.ModuleList(LGConv() for _ in range(config.layers))
        self.relation = torch.nn.Parameter(torch.ones(relations, config.dim))
        self.bias = torch.nn.Parameter(torch.zeros(nodes))

    def forward(self, edge_index: torch.Tensor) -> torch.Tensor:
        x = self.embedding.weight * self.own
        rounds = [x]
        for conv in self.convs:
            x = conv(torch.nn.functional.dropout(x, self.config.dropout, self.training), edge_index)
            rounds.append(x)
        return torch.stack(rounds).mean(0)


class GraphModel:
    """A trained :class:`GraphEncoder`'s embeddings, by entity ref."""

    def __init__(self, entities: Sequence[str], relations: Sequence[str], nodes: np.ndarray, relation: np.ndarray,
                 bias: np.ndarray):
        self.index = {e: i for i, e in enumerate(entities)}
        self.relations = {r: i for i, r in enumerate(relations)}
        self.nodes, self.relation, self.bias = nodes, relation, bias

    def __contains__(self, entity: str) -> bool:
        return entity in self.index

    def scores(self, head: str, relation: str, candidates: Sequence[str]) -> np.ndarray:
        """The model's score of (head, relation, candidate) for each candidate; minus infinity
        for a candidate (or all, for a head or relation) it has never seen."""
        out = np.full(len(candidates), -np.inf)
        if head not in self.index or relation not in self.relations:
            return out
        known = [i for i, c in enumerate(candidates) if c in self.index]
        rows = [self.index[candidates[i]] for i in known]
        query = self.nodes[self.index[head]] * self.relation[self.relations[relation]]
        out[known] = self.nodes[rows] @ query + self.bias[rows]
        return out

    def similarity(self, left: str, right: str) -> float:
        """Cosine of two entities' embeddings (0 where either is unknown)."""
        if left not in self.index or right not in self.index:
            return 0.0
        a, b = self.nodes[self.index[left]], self.nodes[self.index[right]]
        norm = float(np.linalg.norm(a) * np.linalg.norm(b))
        return float(a @ b) / norm if norm else 0.0


def train_gnn(triples: Sequence[Triple], config: GNNConfig | None = None) -> GraphModel:
    """A :class:`GraphEncoder` trained one-against-all on ``triples``."""
    config = config or GNNConfig()
    if not 0 < config.held_out < 1:  # with all out, a product starts from nothing and only the biases learn
        raise ValueError(f"held_out is the share of the triples scored each epoch: above 0, under 1 (not {config.held_out})")
    torch.manual_seed(config.seed)
    draws = torch.Generator().manual_seed(config.seed)
    entities = sorted({e for h, _, t in triples for e in (h, t)})
    relations = sorted({r for _, r, _ in triples})
    index = {e: i for i, e in enumerate(entities)}
    heads = torch.tensor([index[h] for h, _, _ in triples])
    tails = torch.tensor([index[t] for _, _, t in triples])
    asked_of: dict[str, list[int]] = defaultdict(list)  # relation → its triples' places
    for place, (_, r, _) in enumerate(triples):
        asked_of[r].append(place)
    batches = []  # per relation trained: its id, its values, its triples and where each one's answer is among the values
    for number, relation in enumerate(relations):
        places = torch.tensor(asked_of[relation])
        values = tails[places].unique()
        if len(places) < SHARED * len(values):
            continue
        batches.append((number, values, places, torch.searchsorted(values, tails[places])))
    if not batches:
        raise ValueError(f"nothing for the GNN to learn: no relation of the {len(triples)} triples has values that "
                         f"subjects share ({SHARED} a value or more)")
    low, high = torch.minimum(heads, tails), torch.maximum(heads, tails)
    pair = low * len(entities) + high  # the same for every triple between two ends, either way
    trained = torch.zeros(len(triples), dtype=torch.bool)
    for _, _, places, _ in batches:
        trained[places] = True
    model = GraphEncoder(len(entities), len(relations), heads.unique(), config)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    for _ in range(config.epochs):
        scored = trained & (torch.rand(len(triples), generator=draws) < config.held_out)
        asked = [(number, values, places[chosen], answer[chosen])
                 for number, values, places, answer in batches if (chosen := scored[places]).any()]
        if not asked:
            continue
        model.train()
        optimiser.zero_grad()
        z = model(_edges(heads, tails, ~torch.isin(pair, pair[scored])))
        loss = sum(torch.nn.functional.cross_entropy((z[heads[places]] * model.relation[number]) @ z[values].T + model.bias[values],
                                                     answer, reduction="sum")
                   for number, values, places, answer in asked) / sum(len(answer) for *_, answer in asked)
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        z = model(_edges(heads, tails, torch.ones(len(triples), dtype=torch.bool)))
    return GraphModel(entities, relations, z.numpy(), model.relation.detach().numpy(), model.bias.detach().numpy())


def _edges(heads: torch.Tensor, tails: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """The ``kept`` triples as an undirected graph's edge index."""
    heads, tails = heads[kept], tails[kept]
    return torch.cat([torch.stack([heads, tails]), torch.stack([tails, heads])], dim=1)
