"""Applications on the graph: product search, recommendations, market analysis."""
