"""The sample catalogue that ships with skugraph, and its generator."""
