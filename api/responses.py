"""A JSON response rendered by orjson (FastAPI's own ORJSONResponse is deprecated)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse, Response


class OrjsonResponse(JSONResponse):
    """A JSONResponse (so FastAPI documents a route's `response_model` as its 200 schema),
    rendered by orjson: the readers' answers go out as they are, without a pass through the
    models (validating a 2,000-row table cost more than reading it)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class JsonBytes(Response):
    """An answer already rendered (api/readers/answers.py keeps it rendered)."""

    media_type = "application/json"
