"""The server carries its own API reference: both documents and a readable page
whose viewer is bundled (no third-party origin; CSP default-src 'self')."""

from __future__ import annotations

import json
import re

import pytest

from chatapp import create_app
from chatapp.contract import generate


@pytest.fixture
def client():
    return create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://").test_client()


@pytest.mark.parametrize(("url", "path"), [("/api/v1/openapi.json", generate.OPENAPI),
                                           ("/api/v1/asyncapi.json", generate.ASYNCAPI)])
def test_the_documents_are_served_without_authentication(client, url, path):
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer.get_json() == json.loads(path.read_text(encoding="utf-8"))


def test_the_reference_page_loads_only_its_own_files(client):
    page = client.get("/api/v1/reference")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    html = page.get_data(as_text=True)
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "no third-party origin"
    assert "<script>" not in html and "style=" not in html, "nothing inline (the CSP would block it)"
    for asset, mimetype in (("reference.js", "text/javascript"), ("reference.css", "text/css")):
        assert asset in html
        answer = client.get(f"/api/v1/{asset}")
        assert answer.status_code == 200 and answer.mimetype == mimetype
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    script = client.get("/api/v1/reference.js").get_data(as_text=True)
    assert 'load("openapi.json")' in script and 'load("asyncapi.json")' in script
    assert "innerHTML" not in script and "eval(" not in script
