"""Label Studio for real: a server from its own virtual environment (the ``label_studio`` fixture),
``skugraph label push`` and ``pull`` through the official SDK, annotations made through the API."""

from __future__ import annotations

import json
import urllib.request

from skugraph.labelling.server import LabelStudioServer


def test_server_answers_with_its_api_key(label_studio: LabelStudioServer) -> None:
    request = urllib.request.Request(f"{label_studio.url}/api/current-user/whoami",
                                     headers={"Authorization": f"Token {label_studio.api_key}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.load(answer)["email"] == label_studio.username
