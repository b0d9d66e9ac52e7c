"""A download has exactly its read's parameters: each read's own parameters are one
dependency (api/routes/params.py) that the read route and its export both take, and scope,
period and filters are one dependency too. Checked on the OpenAPI document the app serves."""

from __future__ import annotations

from typing import Any

import pytest

from api.exports import CHANNEL_LISTS
from api.main import create_app
from core.settings import Settings

SCOPES = ("/v1/orgs/{org_id}", "/v1/orgs/{org_id}/issuers/{issuer_id}",
          "/v1/orgs/{org_id}/badges/{badge_id}")
EXPORT_OF = {"summary": "summary", "badges": "badges", "top-badges": "top-badges",
             "timeseries": "timeseries", "issuer-activity": "issuer-activity",
             **dict.fromkeys(CHANNEL_LISTS, "channels")}


@pytest.fixture(scope="module")
def paths() -> dict[str, Any]:
    doc: dict[str, Any] = create_app(Settings(gc_gen0_threshold=0)).openapi()
    return doc["paths"]


def parameters(op: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(p["in"], p["name"]): p for p in op.get("parameters", []) if p["name"] != "format"}


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("component", sorted(EXPORT_OF))
def test_an_export_takes_the_same_parameters_as_its_read(paths, scope, component):
    export = paths.get(f"{scope}/export/{component}.{{format}}")
    if export is None:  # issuer-activity under a badge: neither exists
        assert component == "issuer-activity" and "badges" in scope
        assert f"{scope}/issuer-activity" not in paths
        return
    read = paths[f"{scope}/{EXPORT_OF[component]}"]["get"]
    assert parameters(export["get"]) == parameters(read)


def test_the_badge_table_parameters_keep_their_names_defaults_and_limits(paths):
    params = parameters(paths["/v1/orgs/{org_id}/badges"]["get"])
    query = {name: p["schema"] for (where, name), p in params.items() if where == "query"}
    assert query["sort"]["default"] == "overall_score"
    assert query["order"] == {"default": "desc", "enum": ["desc", "asc"], "title": "Order",
                              "type": "string"}
    assert (query["limit"]["default"], query["limit"]["minimum"],
            query["limit"]["maximum"]) == (50, 1, 1000)
    assert query["offset"]["default"] == 0 and query["offset"]["minimum"] == 0
    assert set(query) == {"from", "to", "issuer_id", "badge_id", "status", "sort", "order",
                          "limit", "offset", "min_awards"}
    top = parameters(paths["/v1/orgs/{org_id}/top-badges"]["get"])
    assert top[("query", "limit")]["schema"]["default"] == 5
