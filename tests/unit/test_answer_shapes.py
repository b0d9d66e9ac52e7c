"""The readers' answer shapes (api/readers/shapes.py, what mypy checks the readers against)
and the response models (api/models.py, what the OpenAPI document says) name the same
fields with the same types, all the way down: a field renamed or retyped in one place
fails here."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest
from pydantic import BaseModel

from api import models
from api.readers import shapes

ANSWERS = [
    (shapes.SummaryAnswer, models.SummaryOut),
    (shapes.ChannelsAnswer, models.ChannelsOut),
    (shapes.BadgesAnswer, models.BadgesOut),
    (shapes.TimeseriesAnswer, models.TimeseriesOut),
    (shapes.IssuerActivityAnswer, models.IssuerActivityOut),
    (shapes.InsightChannelsAnswer, models.InsightChannelsOut),
    (shapes.InsightMethodsAnswer, models.InsightMethodsOut),
    (shapes.InsightFunnelAnswer, models.InsightFunnelOut),
    (shapes.InsightBenchmarksAnswer, models.InsightBenchmarksOut),
]


def model_fields(model: type[BaseModel]) -> dict[str, Any]:
    return {f.alias or name: f for name, f in model.model_fields.items()}


def flat_union(t: Any) -> frozenset[Any] | None:
    if get_origin(t) in (Union, types.UnionType):
        out: set[Any] = set()
        for a in get_args(t):
            out |= flat_union(a) or {a}
        return frozenset(out)
    return None


def differences(shape: Any, model: Any, where: str) -> list[str]:
    if is_typeddict(shape):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return [f"{where}: {shape.__name__} against {model!r}, not a response model"]
        if shape.__name__.removesuffix("Answer") != model.__name__.removesuffix("Out"):
            return [f"{where}: {shape.__name__} stands for {model.__name__}?"]
        hints = get_type_hints(shape)
        fields = model_fields(model)
        out = [f"{where}.{k}: only in {shape.__name__}" for k in sorted(set(hints) - set(fields))]
        out += [f"{where}.{k}: only in {model.__name__}" for k in sorted(set(fields) - set(hints))]
        for k in sorted(set(hints) & set(fields)):
            if k not in shape.__required_keys__ or not fields[k].is_required():
                out.append(f"{where}.{k}: every answer carries it, so both must require it")
            out += differences(hints[k], fields[k].annotation, f"{where}.{k}")
        return out
    su, mu = flat_union(shape), flat_union(model)
    if su is not None or mu is not None:
        su, mu = su or frozenset({shape}), mu or frozenset({model})
        if len(su) != len(mu):
            return [f"{where}: {shape} against {model}"]
        plain = su - {s for s in su if is_typeddict(s)}
        if plain != mu - {m for m in mu if isinstance(m, type) and issubclass(m, BaseModel)}:
            return [f"{where}: {shape} against {model}"]
        return []
    if get_origin(shape) is Literal or get_origin(model) is Literal:
        same = get_origin(shape) == get_origin(model) and set(get_args(shape)) == set(
            get_args(model))
        return [] if same else [f"{where}: {shape} against {model}"]
    if get_origin(shape) is not None or get_origin(model) is not None:
        if get_origin(shape) != get_origin(model) or len(get_args(shape)) != len(
                get_args(model)):
            return [f"{where}: {shape} against {model}"]
        return [d for i, (a, b) in enumerate(zip(get_args(shape), get_args(model),
                                                   strict=True))
                for d in differences(a, b, f"{where}[{i}]")]
    return [] if shape == model else [f"{where}: {shape} against {model}"]


@pytest.mark.parametrize(("shape", "model"), ANSWERS, ids=[m.__name__ for _s, m in ANSWERS])
def test_each_answer_shape_names_its_response_models_fields_and_types(shape, model):
    assert differences(shape, model, model.__name__) == []


def test_a_renamed_or_retyped_field_is_caught():
    class RenamedTrend(typing.TypedDict):  # `change_pct` renamed `change_percent`
        current: float | int | None
        previous: float | int | None
        change: float | int | None
        change_percent: float | None
        direction: Literal["up", "down", "flat"]

    RenamedTrend.__name__ = "TrendAnswer"
    found = differences(RenamedTrend, models.TrendOut, "TrendOut")
    assert "TrendOut.change_percent: only in TrendAnswer" in found
    assert "TrendOut.change_pct: only in TrendOut" in found

    class Retyped(typing.TypedDict):
        start: str
        value: float  # the model says int

    Retyped.__name__ = "PointAnswer"
    assert differences(Retyped, models.PointOut, "PointOut") == [
        "PointOut.value: <class 'float'> against <class 'int'>"]


# The parts the readers take from schemas/metrics.py's pure functions and name lists (typed
# there as plain dicts, cast to the shapes in the readers) hold the shapes' keys too.

def keys(shape: Any) -> set[str]:
    return set(shape.__required_keys__)


def test_the_pure_pieces_of_an_answer_have_the_shapes_keys():
    from schemas.metrics import (
        ALL_METRICS,
        KPI_TILES,
        channel_entries,
        derive,
        time_to_accept,
        trend,
    )

    assert set(KPI_TILES) == keys(shapes.KpisAnswer)
    assert {"value", *trend(3, 2)} == keys(shapes.TileAnswer)
    assert set(trend(None, 2)) == keys(shapes.TrendAnswer)
    assert set(ALL_METRICS) == keys(shapes.SummaryMetricsAnswer)
    counts = {"badges_created": 1, "badges_awarded": 4, "accepted_awards": 3,
              "shared_awards": 2, "public_awards": 1, "shares": 5, "views": 9, "bot_views": 2}
    assert set(ALL_METRICS) <= set(derive(counts))
    (entry,) = channel_entries({"lms": 2}, {"lms": 1})
    assert set(entry) == keys(shapes.ChannelEntryAnswer)
    tta = time_to_accept([1, 0, 0, 0, 0, 0, 0, 0])
    assert set(tta) == keys(shapes.TimeToAcceptAnswer)
    assert set(tta["buckets"][0]) == keys(shapes.BucketAnswer)


def test_a_badge_table_row_has_the_shapes_keys():
    from api.readers.table import BC, _row

    vec = [4, 3, 2, 1, 5, 9] + [0] * (BC - 6) + [1]
    row = _row("py", vec, [2, 1, 1, 0, 1, 1, 0], {}, {"py": "eng"})
    assert set(row) == keys(shapes.BadgeRowAnswer)
    assert set(row["trend"]) == keys(shapes.BadgeTrendsAnswer)
    assert set(row["trend"]["badges_awarded"]) == keys(shapes.TrendAnswer)
