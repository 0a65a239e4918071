"""Offline sync API: JSON only. Anonymous (or an expired session) gets 401 JSON, never the
sign-in page; every signed-in role may post a batch, and the service answers each change
(a change to an assessment the user does not rate is a per-change 404, see
tests/services/test_sync.py). The OpenAPI document is public."""

import uuid

from tests.access import Case, everyone

CASES = [
    Case("sync.csrf_token", "GET", lambda w: "/api/csrf", everyone(200, anonymous=401)),
    Case(
        "sync.sync",
        "POST",
        lambda w: "/api/sync",
        everyone(200, anonymous=401),
        json=True,
        data=lambda w: {
            "changes": [
                {
                    "uuid": str(uuid.uuid4()),
                    "type": "assessment_item",
                    "assessment_id": w.assessment.id,
                    "item_key": "engagement",
                    "value": "3",
                    "device_time": "2026-06-20T10:00:00+02:00",
                    "base_version": 0,
                }
            ]
        },
    ),
    Case("sync.openapi", "GET", lambda w: "/api/openapi.json", everyone(200, anonymous=200)),
]
