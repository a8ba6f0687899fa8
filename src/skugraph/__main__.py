"""``python -m skugraph`` (also what ``torchrun -m skugraph pretrain …`` runs)."""

from skugraph.cli import app

app()
