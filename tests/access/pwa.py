"""Installable app: the manifest, the service worker and the offline page are public (the
browser fetches them before anyone signs in) and carry no personal data."""

from tests.access import Case, everyone

CASES = [
    Case("pwa.manifest", "GET", lambda w: "/manifest.json", everyone(200, anonymous=200)),
    Case("pwa.service_worker", "GET", lambda w: "/service-worker.js", everyone(200, anonymous=200)),
    Case("pwa.offline", "GET", lambda w: "/hors-connexion", everyone(200, anonymous=200)),
]
