"""The REST API and the web UI (``skugraph serve``)."""
