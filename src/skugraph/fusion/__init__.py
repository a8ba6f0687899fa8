"""Knowledge fusion: value normalisation (more to come: entity resolution, conflicts, completion)."""
