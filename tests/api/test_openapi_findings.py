"""What fuzzing the hub against its OpenAPI description (tests/api/test_openapi.py) found, one
test each, on both backends: each failed before its fix."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_a_rule_for_a_non_ascii_type_answers_an_ascii_location(client: TestClient) -> None:
    # RFC 9110 section 5.5: a field value is ASCII; the rule's name went out raw in Location
    # and the server failed (500, empty body) after the rule was stored
    response = client.put("/admin/publishing/%C2%BEc%C3%AD", json={})
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location == "/admin/publishing/%C2%BEc%C3%AD"
    assert client.get(location).json()["type"] == "¾cí"
