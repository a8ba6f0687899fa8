"""API keys and roles (``skugraph keys``, ``skugraph serve --keys``): the role matrix over every
route of the OpenAPI schema, revocation, rate limits, the access log and CORS."""

from __future__ import annotations

import json
import logging
import stat

import pytest
from fastapi import Depends, FastAPI
from conftest import api_routes
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from skugraph.cli import app as cli
from skugraph.serve.app import create_app
from skugraph.serve.keys import Access, KeyStore, RateLimiter, default_keys_file


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A keys file with a read key, a write key and a revoked key: the store and each key."""
    store = KeyStore(tmp_path_factory.mktemp("keys") / "graph.lbug.keys.json")
    made = {role: store.create(f"{role} client", role) for role in ("read", "write")}
    revoked, revoked_key = store.create("old client", "read")
    store.revoke(revoked.id)
    return {"store": store, "read": made["read"][1], "write": made["write"][1], "revoked": revoked_key,
            "ids": {role: record.id for role, (record, _) in made.items()}}


@pytest.fixture(scope="module")
def app(demo_graph, keys):
    return create_app(demo_graph, query_timeout=2.0, keys=keys["store"].path, rate_limit=1000, burst=1000)


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


def _example_requests(client: TestClient, key: str) -> list[tuple[str, str, dict]]:
    """One valid request for each operation of the OpenAPI schema: (method, path, keyword arguments)."""
    product = client.get("/search", params={"q": "手机壳", "limit": 1}, headers=_bearer(key)).json()["hits"][0]["id"]
    values = {"product_id": product, "product": product, "q": "华为 手机壳", "limit": 2, "k": 2}
    bodies = {"/extract": {"text": "华为 Mate 60 蓝色 5G手机"}, "/query": {"cypher": "MATCH (p:Product) RETURN count(p)"}}
    requests = []
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            url = path.format(**{p["name"]: values[p["name"]] for p in parameters if p["in"] == "path"})
            arguments: dict = {"params": {p["name"]: values[p["name"]] for p in parameters if p["in"] == "query" and p["required"]}}
            if "requestBody" in operation:
                arguments["json"] = bodies[path]  # a new endpoint with a body needs an example here
            requests.append((method.upper(), url, arguments))
    return requests


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def walk(client, keys) -> list[tuple[str, str, dict]]:
    return _example_requests(client, keys["write"])


def _write_operations(app: FastAPI) -> set[str]:
    """The routes behind the write role, found from their dependencies."""
    write = app.state.access.write
    return {route.path for route in api_routes(app.routes) if any(dependency.call is write for dependency in route.dependant.dependencies)}


def test_the_schema_declares_the_keys_and_their_answers(client):
    schema = client.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    operations = [operation for item in schema["paths"].values() for operation in item.values()]
    assert len(operations) >= 8  # the eight reading endpoints, and any added since
    for operation in operations:
        assert operation["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]
        assert {"401", "429"} <= set(operation["responses"])
        assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_without_keys_the_schema_declares_none(demo_graph):
    schema = TestClient(create_app(demo_graph)).get("/openapi.json").json()
    assert "securitySchemes" not in schema.get("components", {})
    assert not any("401" in operation["responses"] for item in schema["paths"].values() for operation in item.values())


def test_role_matrix_over_every_route(app, client, keys, walk):
    assert _write_operations(app) == set()  # a read-only graph serves no write route (tests/test_write_api.py walks those)
    for method, url, arguments in walk:
        for headers in ({}, _bearer(keys["revoked"]), _bearer("skg_not-a-key"), {"X-API-Key": keys["revoked"]},
                        {"Authorization": f"Basic {keys['read']}"}):
            refused = client.request(method, url, headers=headers, **arguments)
            assert refused.status_code == 401, (method, url, headers, refused.text)
            assert refused.headers["WWW-Authenticate"] == "Bearer" and "error" in refused.json()
        for role in ("read", "write"):
            for headers in (_bearer(keys[role]), {"X-API-Key": keys[role]}):
                answer = client.request(method, url, headers=headers, **arguments)
                assert answer.status_code == 200, (method, url, role, answer.text)


def test_pages_without_data_stay_open_and_the_report_page_needs_a_key(client, keys):
    for path in ("/", "/docs", "/openapi.json", "/swagger/swagger-ui.css", "/ui/product/sku-0001"):
        assert client.get(path).status_code == 200, path
    assert client.get("/ui/report").status_code == 401  # it holds the data of GET /report
    assert client.get("/ui/report", headers=_bearer(keys["read"])).status_code == 200


def test_a_key_revoked_while_serving_is_refused_at_once(client, keys):
    store = KeyStore(keys["store"].path)  # as `skugraph keys` would: another process, the same file
    record, key = store.create("short-lived", "read")
    assert client.get("/stats", headers=_bearer(key)).status_code == 200
    store.revoke(record.id)
    assert client.get("/stats", headers=_bearer(key)).status_code == 401


def test_the_write_role_dependency(tmp_path):
    """A write endpoint (POST /listings and DELETE /listings/{id} will be) takes ``access.write``:
    a read key gets 403, a write key passes, and a request is counted once however many checks it passes."""
    store = KeyStore(tmp_path / "keys.json")
    (_, read_key), (writer, write_key) = store.create("reader", "read"), store.create("writer", "write")
    access = Access(store, RateLimiter(rate=0.001, burst=2))
    tiny = FastAPI(dependencies=[Depends(access.read)])

    @tiny.post("/write", dependencies=[Depends(access.write)], responses=access.write_responses)
    def write() -> dict:
        return {}

    client = TestClient(tiny)
    assert client.post("/write").status_code == 401
    assert client.post("/write", headers=_bearer(read_key)).status_code == 403
    assert client.post("/write", headers=_bearer(write_key)).status_code == 200
    assert client.post("/write", headers={"X-API-Key": write_key}).status_code == 200  # two checks, one token each time
    assert client.post("/write", headers=_bearer(write_key)).status_code == 429
    assert "403" in tiny.openapi()["paths"]["/write"]["post"]["responses"]
    assert Access().write_responses == {}  # without keys, nothing to document
    assert writer.allows("read") and writer.allows("write")


def test_rate_limit_per_key(app, client, keys, monkeypatch):
    monkeypatch.setattr(app.state.access, "limiter", RateLimiter(rate=0.01, burst=3))
    answers = [client.get("/stats", headers=_bearer(keys["read"])).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    limited = client.get("/stats", headers=_bearer(keys["read"]))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1 and "error" in limited.json()
    assert client.get("/stats", headers=_bearer(keys["write"])).status_code == 200  # another key has its own bucket


def test_the_keys_file_holds_digests_not_keys(keys):
    text = keys["store"].path.read_text(encoding="utf-8")
    for role in ("read", "write", "revoked"):
        assert keys[role] not in text and keys[role][4:] not in text
    records = json.loads(text)["keys"]
    assert len(records) >= 3 and all(len(record["sha256"]) == 64 for record in records)
    assert stat.S_IMODE(keys["store"].path.stat().st_mode) == 0o600


def test_the_access_log_names_the_key_id_never_the_key(client, keys, caplog):
    with caplog.at_level(logging.INFO, logger="skugraph.access"):
        client.get("/search", params={"q": "手机壳"}, headers=_bearer(keys["read"]))
        client.get("/stats")
    lines = [record.getMessage() for record in caplog.records if record.name == "skugraph.access"]
    assert lines[0].startswith(f"key={keys['ids']['read']} GET /search 200 ") and lines[0].endswith(" ms")
    assert lines[1].startswith("key=- GET /stats 401 ")
    assert not any(keys["read"] in line for line in lines)


def test_cors_headers_only_when_configured(demo_graph, client, keys):
    origin = {"Origin": "https://shop.example"}
    plain = client.get("/stats", headers=origin | _bearer(keys["read"]))
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers
    configured = TestClient(create_app(demo_graph, keys=keys["store"].path, cors_origins=["https://shop.example"]))
    allowed = configured.get("/stats", headers=origin | _bearer(keys["read"]))
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    other = configured.get("/stats", headers={"Origin": "https://elsewhere.example"} | _bearer(keys["read"]))
    assert "access-control-allow-origin" not in other.headers
    preflight = configured.options("/search", headers=origin | {"Access-Control-Request-Method": "GET",
                                                                 "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 200 and "authorization" in preflight.headers["access-control-allow-headers"].lower()


def test_keys_command_creates_lists_and_revokes(tmp_path):
    db = tmp_path / "graph.lbug"
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--name", "shop front", "--role", "write", "--db", str(db)])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[0]
    assert key.startswith("skg_") and len(key) > 40
    path = default_keys_file(db)
    assert path == tmp_path / "graph.lbug.keys.json" and key not in path.read_text(encoding="utf-8")
    listed = json.loads(runner.invoke(cli, ["keys", "list", "--db", str(db), "--json"]).stdout)
    assert [(k["name"], k["role"], k["revoked"]) for k in listed] == [("shop front", "write", None)]
    assert KeyStore(path).verify(key).id == listed[0]["id"]
    assert runner.invoke(cli, ["keys", "revoke", listed[0]["id"], "--db", str(db)]).exit_code == 0
    assert KeyStore(path).verify(key) is None
    assert json.loads(runner.invoke(cli, ["keys", "list", "--db", str(db), "--json"]).stdout)[0]["revoked"]
    wrong = runner.invoke(cli, ["keys", "create", "--name", "x", "--role", "admin", "--keys", str(tmp_path / "k.json")])
    assert wrong.exit_code == 1 and "one of read, write" in wrong.output
    assert runner.invoke(cli, ["keys", "revoke", "key-nope", "--db", str(db)]).exit_code == 1


def test_serve_without_keys_refuses_to_listen_beyond_this_machine(tmp_path):
    refused = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "graph.lbug"), "--host", "0.0.0.0"])
    assert refused.exit_code == 1 and "no API keys" in refused.output and "127.0.0.1" in refused.output


def test_generated_requests_with_a_key_get_documented_answers(app, keys):
    """Schemathesis over the keyed API (every check, ignored_auth included: the schema's
    security must hold); each answer, 401 and 429 among them, matches the schema."""
    schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (the dev extra) is not installed")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for operation in [result.ok() for result in schema.get_all_operations()]:

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def answers(case):
            excluded = [positive_data_acceptance] if case.operation.path == "/query" else []  # "WITH" is no Cypher: 400
            case.call_and_validate(headers=_bearer(keys["read"]), excluded_checks=excluded)

        answers()
