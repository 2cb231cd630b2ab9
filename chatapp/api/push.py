"""v2 push notifications: the VAPID key and the caller's push subscriptions."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ..contract import rest
from ..contract.parse import parse
from ..services import push_delivery, push_subscriptions
from ..services.errors import field_error
from .http import answer, json_body, path_id, unset_to_missing
from .principal import current_token_id, me
from .typed import login_required

bp = Blueprint("push", __name__, url_prefix="/api/v1")


@bp.get("/push/config")
@login_required
def push_config() -> ResponseReturnValue:
    return answer(rest.PushConfig, webpush={"public_key": push_delivery.sender().public_key})


@bp.post("/push/subscriptions")
@login_required
def subscribe() -> ResponseReturnValue:
    data = json_body()
    kind = data.get("type")
    if kind == "webpush":
        web = parse(rest.WebPushSubscriptionRequest, data)
        subscription, created = push_subscriptions.subscribe(
            me(), current_token_id(), "webpush", endpoint=web.endpoint, p256dh=web.keys.p256dh,
            auth=web.keys.auth, device_name=unset_to_missing(web.device_name),
        )
    elif kind == "fcm":
        fcm = parse(rest.FcmSubscriptionRequest, data)
        subscription, created = push_subscriptions.subscribe(
            me(), current_token_id(), "fcm", token=fcm.token, device_name=unset_to_missing(fcm.device_name)
        )
    else:
        raise field_error("type", "must be webpush or fcm")
    return answer(rest.SubscriptionAnswer, 201 if created else 200, subscription=subscription)


@bp.get("/push/subscriptions")
@login_required
def list_subscriptions() -> ResponseReturnValue:
    return answer(rest.SubscriptionsAnswer, subscriptions=push_subscriptions.list_subscriptions(me()))


@bp.delete("/push/subscriptions/<subscription_id>")
@login_required
def unsubscribe(subscription_id: str) -> ResponseReturnValue:
    push_subscriptions.unsubscribe(me(), path_id(subscription_id, "subscription_id"))
    return "", 204
