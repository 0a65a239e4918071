"""Web Push with VAPID (pywebpush): store a browser's subscription, send it a notification.
Configured by VAPID_PRIVATE_KEY (base64url raw key or PEM), VAPID_PUBLIC_KEY (base64url, the
browser's applicationServerKey) and VAPID_SUBJECT (mailto: of the school). Without them the
page offers no push and nothing is sent."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from sqlalchemy import select

from app.errors import InvalidInput
from app.extensions import db
from app.models import PushSubscription, User

log = logging.getLogger(__name__)
TIMEOUT = 10
TTL = 24 * 3600


def is_configured() -> bool:
    config = current_app.config
    return bool(config.get("VAPID_PRIVATE_KEY") and config.get("VAPID_PUBLIC_KEY"))


def public_key() -> str:
    return str(current_app.config.get("VAPID_PUBLIC_KEY") or "")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def generate_vapid_keys() -> tuple[str, str]:
    """(private, public) as base64url strings, for VAPID_PRIVATE_KEY and VAPID_PUBLIC_KEY."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64(private), _b64(public)


def subscribe(user: User, data: Any, user_agent: str = "") -> PushSubscription:
    """Store (or move to this user) a subscription as PushSubscription.toJSON() gives it."""
    if not isinstance(data, dict):
        raise InvalidInput("Abonnement illisible.")
    endpoint = data.get("endpoint")
    raw_keys = data.get("keys")
    keys: dict[str, Any] = raw_keys if isinstance(raw_keys, dict) else {}
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not (isinstance(endpoint, str) and endpoint.startswith(("https://", "http://"))):
        raise InvalidInput("Abonnement illisible : adresse du service de notification manquante.")
    if not (isinstance(p256dh, str) and isinstance(auth, str) and p256dh and auth):
        raise InvalidInput("Abonnement illisible : clés manquantes.")
    if len(endpoint) > 1000 or len(p256dh) > 200 or len(auth) > 100:
        raise InvalidInput("Abonnement illisible : trop long.")
    subscription = db.session.scalar(
        select(PushSubscription).where(PushSubscription.endpoint == endpoint)
    )
    if subscription is None:
        subscription = PushSubscription(endpoint=endpoint, user_id=user.id, p256dh="", auth="")
        db.session.add(subscription)
    subscription.user_id = user.id
    subscription.p256dh, subscription.auth = p256dh, auth
    subscription.user_agent = user_agent[:300]
    db.session.flush()
    return subscription


def unsubscribe(user: User, endpoint: str) -> bool:
    subscription = db.session.scalar(
        select(PushSubscription).where(
            PushSubscription.endpoint == endpoint, PushSubscription.user_id == user.id
        )
    )
    if subscription is None:
        return False
    db.session.delete(subscription)
    db.session.flush()
    return True


def subscriptions_of(user_ids: list[int]) -> dict[int, list[PushSubscription]]:
    found: dict[int, list[PushSubscription]] = {}
    if not user_ids:
        return found
    for sub in db.session.scalars(
        select(PushSubscription).where(PushSubscription.user_id.in_(user_ids))
    ):
        found.setdefault(sub.user_id, []).append(sub)
    return found


@dataclass(frozen=True)
class PushResult:
    ok: bool
    error: str | None = None
    gone: bool = False  # the push service forgot the subscription (404/410): drop it


def send(subscription: PushSubscription, title: str, body: str, url: str) -> PushResult:
    """Encrypt (aes128gcm) and POST the notification to the subscription's push service."""
    from pywebpush import WebPushException, webpush

    config = current_app.config
    payload = json.dumps({"title": title, "body": body, "url": url}, ensure_ascii=False)
    try:
        webpush(
            subscription_info={
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            },
            data=payload,
            vapid_private_key=config["VAPID_PRIVATE_KEY"],
            vapid_claims={"sub": config.get("VAPID_SUBJECT") or "mailto:passerelle@localhost"},
            timeout=TIMEOUT,
            ttl=TTL,
        )
    except WebPushException as error:
        status = error.response.status_code if error.response is not None else None
        log.warning("Push refused (%s) for subscription %s", status, subscription.id)
        return PushResult(
            False, f"Service de notification : refus ({status}).", status in (404, 410)
        )
    except Exception as error:  # requests' connection errors, a malformed key
        log.warning("Push failed for subscription %s: %s", subscription.id, error)
        return PushResult(False, "Service de notification injoignable pour le moment.")
    return PushResult(True)
