"""Speed benchmarks (``skugraph bench …``), each printing its figures beside a baseline run in
the same call, one module a benchmark:

- ``extract``: titles per second and peak memory of every way to run one tagger on the same
  titles (Hugging Face's token-classification pipeline and our four runtimes);
- ``load``: facts per second of our loader against LadybugDB's own ``COPY`` of the same rows,
  and the cost of an incremental update of 1% of the listings against the full load;
- ``stream``: extraction of a million generated listings, with the peak memory of all its
  processes; ``scale``: the same on a local Ray instance with 1 and 2 workers;
- ``train``: pretraining throughput on Ray Train beside one local process;
- ``service``: schemathesis against ``skugraph serve`` (``api``), and the wall time of
  ``skugraph demo`` in a fresh work directory (``demo``);
- ``workload``: the generated catalogues, titles and the peak-memory sampler they share;
- ``tables``: what the commands print of each report.
"""
