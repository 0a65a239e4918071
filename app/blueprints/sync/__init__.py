"""Offline sync JSON API (SPEC F7): /api/sync, /api/csrf, /api/openapi.json."""
