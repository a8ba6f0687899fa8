"""The graph store interface and its backends."""
