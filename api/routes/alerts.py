"""Alert routes (insights.md): an org_admin key manages its org's alerts; the loops that
evaluate and deliver them are api/alerting/runner.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from api.alert_models import (
    AlertCreatedOut,
    AlertIn,
    AlertOut,
    AlertsOut,
    DeliveriesOut,
    DeliveryOut,
)
from api.alerting.rules import iso_ms
from api.alerting.runner import AlertRunner
from api.alerting.store import new_alert_id, new_secret
from api.alerting.urls import UrlRefused, check_url
from api.deps import CallerDep, get_layout
from api.models import ERROR_RESPONSES
from api.readers.scope import NotFound, ReadQuery, resolve
from core.keys import ApiKey

router = APIRouter(prefix="/v1/orgs/{org_id}/alerts", tags=["alerts"],
                   responses=ERROR_RESPONSES)


async def require_alert_admin(caller: CallerDep, org_id: str) -> ApiKey:
    """Another org's alerts are a 404 like absent ones; any role but org_admin is a 403."""
    if caller.org_id != org_id:
        raise NotFound
    if caller.role != "org_admin":
        raise HTTPException(403, "alerts are managed with an org_admin key")
    return caller


AdminDep = Annotated[ApiKey, Depends(require_alert_admin)]


def runner_of(request: Request) -> AlertRunner:
    runner: AlertRunner = request.app.state.alert_runner
    return runner


def body_error(loc: list[str], msg: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", *loc], "msg": msg, "type": "value_error"}])


def alert_out(alert: dict[str, Any]) -> dict[str, Any]:
    return {**alert, "state": alert.get("state", "ok"),
            "state_since": iso_ms(alert.get("state_since"))}


def delivery_out(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "delivery_id": rec["delivery_id"], "alert_id": rec["alert_id"],
        "time": iso_ms(int(rec["created_at"])), "state": rec["state"],
        "status": rec["status"], "http_status": rec.get("http_status"),
        "attempts": int(rec["attempts"]),
        "next_retry": iso_ms(rec.get("next_retry_at")) if rec["status"] == "pending" else None,
        "last_attempt_at": iso_ms(rec.get("last_attempt_at")),
        "delivered_at": iso_ms(rec.get("delivered_at")), "error": rec.get("error"),
    }


async def check_scope(request: Request, org_id: str, body: AlertIn) -> None:
    """The scope's issuer and badge must exist in the org (422 naming the one that does
    not; the caller is the org's admin, so nothing of another tenant shows)."""
    issuer, badge = body.scope.issuer_id, body.scope.badge_id
    if issuer is None and badge is None:
        return
    redis = request.app.state.redis
    layout = await get_layout(request, redis)
    today = datetime.now(UTC).date()
    admin = ApiKey("alerts", org_id, "org_admin")
    if issuer is not None:
        try:
            await resolve(redis, layout, admin, ReadQuery(org_id, today, today, issuer))
        except NotFound as err:
            raise body_error(["scope", "issuer_id"], "no such issuer in this org") from err
    if badge is not None:
        try:
            await resolve(redis, layout, admin, ReadQuery(org_id, today, today, issuer, badge))
        except NotFound as err:
            raise body_error(["scope", "badge_id"], "no such badge in this org" + (
                " under that issuer" if issuer else "")) from err


@router.post("", status_code=201, response_model=AlertCreatedOut,
             summary="Make an alert (its secret is shown only in this answer)",
             responses={400: ERROR_RESPONSES[422] | {"description": "A body that is not JSON"},
                        409: ERROR_RESPONSES[422] | {"description": "Too many alerts"}})
async def create_alert(request: Request, org_id: str, caller: AdminDep,
                       body: AlertIn) -> Any:
    runner = runner_of(request)
    settings = request.app.state.settings
    too_many = HTTPException(409, f"the org has {settings.alerts_per_org} alerts already "
                                  "(BADGEPULSE_ALERTS_PER_ORG)")
    if await runner.store.count(org_id) >= settings.alerts_per_org:
        raise too_many
    try:
        await check_url(body.url, runner.allowed, runner.resolve_host)
    except UrlRefused as err:
        raise body_error(["url"], str(err)) from err
    await check_scope(request, org_id, body)
    alert = {
        "alert_id": new_alert_id(), "org_id": org_id, "metric": body.metric,
        "scope": body.scope.model_dump(), "window_days": body.window_days,
        "condition": body.condition.model_dump(), "min_awards": body.min_awards,
        "url": body.url,
        "created_at": iso_ms(int(datetime.now(UTC).timestamp() * 1000)),
    }
    secret = new_secret()
    if not await runner.store.create(org_id, alert, secret, settings.alerts_per_org):
        raise too_many  # others made at the same moment took the last places
    return {**alert_out(alert), "secret": secret}


@router.api_route("", methods=["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE"],
                  include_in_schema=False)
async def other_methods_of_alerts() -> Response:
    """Starlette's own 405 names only the first route of a path (`Allow: POST`); this path
    has two, so say both."""
    return Response('{"detail":"Method Not Allowed"}', status_code=405,
                    media_type="application/json", headers={"Allow": "GET, POST"})


@router.get("", response_model=AlertsOut, summary="The org's alerts (no secrets)")
async def list_alerts(request: Request, org_id: str, caller: AdminDep) -> Any:
    return {"items": [alert_out(a) for a in await runner_of(request).store.alerts(org_id)]}


@router.delete("/{alert_id}", status_code=204, response_class=Response,
               summary="Delete an alert and its pending deliveries")
async def delete_alert(request: Request, org_id: str, alert_id: str,
                       caller: AdminDep) -> Response:
    if not await runner_of(request).store.delete(org_id, alert_id):
        raise NotFound
    return Response(status_code=204)


@router.post("/{alert_id}/test", response_model=DeliveryOut,
             summary="Send one `test` delivery now; the delivery after its first attempt")
async def test_alert(request: Request, org_id: str, alert_id: str, caller: AdminDep) -> Any:
    runner = runner_of(request)
    alert = await runner.store.get(org_id, alert_id)
    if alert is None:
        raise NotFound
    body, at = await runner.test_body(alert)
    _done, delivery_id = await runner.store.enqueue(org_id, alert_id, "test", body, at,
                                                    test=True)
    rec = await runner.send_now(org_id, delivery_id)
    if rec is None:
        raise NotFound  # deleted meanwhile
    return delivery_out(rec)


@router.get("/{alert_id}/deliveries", response_model=DeliveriesOut,
            summary="The alert's last 100 deliveries, newest first")
async def read_deliveries(request: Request, org_id: str, alert_id: str,
                          caller: AdminDep) -> Any:
    store = runner_of(request).store
    if await store.get(org_id, alert_id) is None:
        raise NotFound
    return {"items": [delivery_out(r) for r in await store.deliveries(org_id, alert_id)]}


__all__ = ["router", "AlertOut", "DeliveryOut"]
