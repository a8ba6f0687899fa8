"""From mentions to facts: the ontology and the fact builder."""
