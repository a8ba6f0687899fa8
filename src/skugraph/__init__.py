"""skugraph: turn e-commerce listings into a product knowledge graph."""

__version__ = "0.1.0"
