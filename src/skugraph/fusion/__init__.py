"""Knowledge fusion: value normalisation, conflict resolution, brand aliases, KG completion (evaluation)."""
