"""Knowledge fusion: value normalisation, conflict resolution, brand aliases, pair matching, product entity resolution, KG completion."""
