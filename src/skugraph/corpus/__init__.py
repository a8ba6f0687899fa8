"""Reading, validating and normalising listings and labelled text."""
