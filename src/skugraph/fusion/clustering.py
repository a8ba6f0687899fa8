"""Clusters of matched listings: connected components of the pairs scored at or above a
threshold, less weak bridges (one weak link must not chain two products into one), rebuilt
where two members conflict."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from skugraph.fusion.identity import Judge


def _bridges(nodes: list[int], edges: dict[int, dict[int, float]]) -> set[tuple[int, int]]:
    """Bridges of the graph induced on ``nodes`` (Tarjan, iterative), as (min, max) pairs."""
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    found: set[tuple[int, int]] = set()
    for root in nodes:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack = [(root, -1, iter(edges[root]))]
        while stack:
            node, parent, children = stack[-1]
            advanced = False
            for child in children:
                if child == parent:
                    continue
                if child in order:
                    low[node] = min(low[node], order[child])
                else:
                    order[child] = low[child] = len(order)
                    stack.append((child, node, iter(edges[child])))
                    advanced = True
                    break
            if not advanced:
                stack.pop()
                if parent >= 0:
                    low[parent] = min(low[parent], low[node])
                    if low[node] > order[parent]:
                        found.add((min(node, parent), max(node, parent)))
    return found


def cluster(count: int, scored: Iterable[tuple[int, int, float]], threshold: float = 0.5,
            strong: float = 0.8) -> tuple[list[int], list[tuple[int, int, float]]]:
    """Cluster label per item (the smallest member index), and the weak bridges that were cut."""
    edges: dict[int, dict[int, float]] = defaultdict(dict)
    for a, b, score in scored:
        if score >= threshold:
            edges[a][b] = edges[b][a] = score
    nodes = sorted(edges)
    # a weak bridge between two groups (both ends have other links) chains two products: cut it
    weak = {(a, b) for a, b in _bridges(nodes, edges) if edges[a][b] < strong and len(edges[a]) > 1 and len(edges[b]) > 1}
    cut = [(a, b, edges[a][b]) for a, b in sorted(weak)]
    for a, b, _ in cut:
        del edges[a][b], edges[b][a]
    label = list(range(count))
    done: set[int] = set()
    for start in nodes:  # components by depth-first search; label = smallest member
        if start in done:
            continue
        seen, stack = {start}, [start]
        while stack:
            node = stack.pop()
            for other in edges[node]:
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
        smallest = min(seen)
        for node in seen:
            label[node] = smallest
        done |= seen
    return label, cut


def split_conflicts(labels: list[int], scored: Sequence[tuple[int, int, float]], threshold: float, judge: Judge) -> list[int]:
    """Clusters rebuilt where two of their members conflict (``judge(a, b).veto`` for a < b):
    the cluster's matches joined from the strongest down, skipping a match that would put a
    conflicting pair in one product."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        groups[label].append(i)
    matches: dict[int, list[tuple[int, int, float]]] = defaultdict(list)  # cluster → its matches, in one pass
    for edge in scored:
        if edge[2] >= threshold and labels[edge[0]] == labels[edge[1]]:
            matches[labels[edge[0]]].append(edge)
    labels = list(labels)
    for label, group in groups.items():
        if len(group) < 2:
            continue

        def conflict(a: int, b: int) -> bool:
            return judge(min(a, b), max(a, b)).veto

        if not judge.any_conflict(group):
            continue
        component = {i: {i} for i in group}
        for a, b, _ in sorted(matches[label], key=lambda e: -e[2]):
            left, right = component[a], component[b]
            if left is right or any(conflict(x, y) for x in left for y in right):
                continue
            left |= right
            for i in right:
                component[i] = left
        for members in {id(c): c for c in component.values()}.values():
            for i in members:
                labels[i] = min(members)
    return labels
