"""A linear-chain CRF layer for training: learned start, transition and end scores on top of
per-token emissions, with the BIO/BIEOS validity constraints built in (an invalid move
scores ``-1e4``, so the model never learns or decodes one). Decoding and confidences run
in numpy on the same scores (:mod:`skugraph.tagging.decode`)."""

from __future__ import annotations

import numpy as np
import torch

from skugraph.tagging.decode import allowed_transitions

_BLOCKED = -1e4


class CRF(torch.nn.Module):
    def __init__(self, tags: list[str]):
        super().__init__()
        start, transition, end = (torch.from_numpy(mask) for mask in allowed_transitions(tags))
        self.register_buffer("start_allowed", start, persistent=False)
        self.register_buffer("transition_allowed", transition, persistent=False)
        self.register_buffer("end_allowed", end, persistent=False)
        size = len(tags)
        self.start = torch.nn.Parameter(torch.zeros(size))
        self.transition = torch.nn.Parameter(torch.zeros(size, size))
        self.end = torch.nn.Parameter(torch.zeros(size))

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(start [C], transition [C, C] from→to, end [C]) with invalid moves blocked."""
        blocked = torch.tensor(_BLOCKED)
        return (
            torch.where(self.start_allowed, self.start, blocked),
            torch.where(self.transition_allowed, self.transition, blocked),
            torch.where(self.end_allowed, self.end, blocked),
        )

    def scores_numpy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with torch.no_grad():
            return tuple(s.float().numpy().astype(np.float64) for s in self.scores())  # type: ignore[return-value]

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of gold ``tags`` [B, T]; ``mask`` [B, T] marks each
        row's tokens, left-aligned (every row has at least one)."""
        emissions = emissions.float()
        start, transition, end = self.scores()
        batch, steps, _ = emissions.shape
        rows = torch.arange(batch)
        lengths = mask.sum(dim=1)
        maskf = mask.float()
        # score of the gold path
        gold = start[tags[:, 0]] + emissions[rows, 0, tags[:, 0]]
        for t in range(1, steps):
            step = transition[tags[:, t - 1], tags[:, t]] + emissions[rows, t, tags[:, t]]
            gold = gold + step * maskf[:, t]
        gold = gold + end[tags[rows, lengths - 1]]
        # log partition by the forward algorithm
        alpha = start[None, :] + emissions[:, 0]
        for t in range(1, steps):
            moved = torch.logsumexp(alpha[:, :, None] + transition[None], dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], moved, alpha)
        log_partition = torch.logsumexp(alpha + end[None, :], dim=1)
        return (log_partition - gold).mean()
