"""Real identity providers for the tests, on 127.0.0.1.

- `OidcServer`: the npm package oidc-provider (tests/oidc/server.mjs) in a node subprocess,
  started once per test session; `sign_in(authorize_url, login)` plays the browser at the
  provider (its own login form) and returns the callback URL it redirects to.
- `CasServer`: a minimal CAS 2/3 server (werkzeug, in a thread) speaking the protocol: /login
  (a form, then a redirect to the service with a ticket), /serviceValidate and
  /p3/serviceValidate (XML), single-use tickets bound to their service.

Both know the same people (PEOPLE); the tests create the matching Passerelle accounts."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

OIDC_DIR = Path(__file__).parent / "oidc"
CLIENT_ID = "passerelle"
CLIENT_SECRET = "secret-de-test-passerelle-0123456789"

# The provider's accounts: login → claims. Passerelle accounts are matched on `ine`/`ent_id`
# (national id) or a verified `email`.
PEOPLE: dict[str, dict[str, Any]] = {
    "prof.martin": {
        "email": "claire.martin@ent.example.fr",
        "email_verified": True,
        "name": "Claire Martin",
        "ent_id": "STS-4821",
    },
    "prof.email": {
        "email": "paul.durand@lycee.example.fr",
        "email_verified": True,
        "name": "Paul Durand",
    },
    "eleve.ines": {
        "email": "ines.garay@ent.example.fr",
        "email_verified": False,
        "name": "Inès Garay",
        "ine": "070123456AB",
    },
    "email.non.verifie": {
        "email": "paul.durand@lycee.example.fr",
        "email_verified": False,
        "name": "Paul Durand",
    },
    "inconnu": {"email": "personne@ent.example.fr", "email_verified": True, "name": "Paul Durand"},
    "tuteur": {"email": "tuteur@entreprise.example.fr", "email_verified": True},
}


@dataclass
class OidcServer:
    issuer: str
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def set_mode(self, mode: str) -> None:
        """normal | expired | forged | wrong_aud (see tests/oidc/server.mjs)."""
        requests.post(f"{self.issuer}/__test/mode", params={"value": mode}, timeout=5)

    def sign_in(self, authorize_url: str, login: str, stop_at: str = "http://localhost/") -> str:
        """Follow the provider's pages as a browser would, sign in as `login`, and return the
        URL the provider sends the browser back to (not followed)."""
        browser = requests.Session()
        url = authorize_url
        for _ in range(10):
            response = browser.get(url, allow_redirects=False, timeout=5)
            if response.status_code == 200 and 'name="login"' in response.text:
                action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
                assert action, response.text
                response = browser.post(
                    urljoin(url, action.group(1)),
                    data={"prompt": "login", "login": login, "password": "x"},
                    allow_redirects=False,
                    timeout=5,
                )
            assert response.status_code in (302, 303), (response.status_code, response.text)
            url = urljoin(url, response.headers["Location"])
            if url.startswith(stop_at):
                return url
        raise AssertionError("the provider never sent the browser back")


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(["npm", "ci", "--prefix", str(OIDC_DIR)], check=True, capture_output=True)
    return node


@contextmanager
def running_oidc_server() -> Iterator[OidcServer]:
    """oidc-provider in a node subprocess on a free port, stopped on exit."""
    env = os.environ | {
        "OIDC_ACCOUNTS": json.dumps(PEOPLE),
        "OIDC_CLIENTS": json.dumps(
            [
                {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
                {"client_id": "autre-application", "client_secret": CLIENT_SECRET + "-autre"},
            ]
        ),
        "NODE_ENV": "test",
    }
    process = subprocess.Popen(
        [_node(), str(OIDC_DIR / "server.mjs")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    issuer = ""
    for line in process.stdout:
        if line.startswith("READY "):
            issuer = line.split()[1]
            break
    if not issuer:
        process.kill()
        raise RuntimeError("oidc-provider did not start")
    try:
        yield OidcServer(issuer=issuer, process=process)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session", name="oidc_server")
def oidc_server_fixture() -> Iterator[OidcServer]:
    with running_oidc_server() as server:
        yield server


# --- CAS ---------------------------------------------------------------------------------------

CAS_PEOPLE: dict[str, dict[str, str]] = {
    "cas.prof": {"mail": "claire.martin@ent.example.fr", "displayName": "Claire Martin"},
    "cas.eleve": {"ENTEleveINE": "070123456AB", "displayName": "Inès Garay"},
    "cas.inconnu": {"mail": "personne@ent.example.fr"},
}

_LOGIN_FORM = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>CAS</title>
</head><body><h1>Service d'authentification de l'ENT</h1>
<form method="post"><label>Identifiant <input name="username"></label>
<label>Mot de passe <input name="password" type="password"></label>
<input type="hidden" name="service" value="{service}">
<button type="submit">Se connecter</button></form></body></html>"""


class CasServer:
    def __init__(self) -> None:
        self.tickets: dict[str, tuple[str, str]] = {}  # ticket → (service, user)
        self.validations = 0
        # When set, every validation answers this body instead (a broken or hostile server).
        self.override: bytes | None = None
        self._lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cas"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def issue(self, service: str, user: str) -> str:
        ticket = f"ST-{secrets.token_urlsafe(24)}"
        with self._lock:
            self.tickets[ticket] = (service, user)
        return ticket

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        path = request.path.removeprefix("/cas")
        if path == "/login":
            response = self._login(request)
        elif path in ("/serviceValidate", "/p3/serviceValidate"):
            response = self._validate(request, with_attributes=path.startswith("/p3"))
        else:
            response = Response("not found", 404)
        return response(environ, start_response)

    def _login(self, request: Request) -> Response:
        service = request.values.get("service", "")
        if request.method == "POST" and request.form.get("username") in CAS_PEOPLE:
            ticket = self.issue(service, request.form["username"])
            sep = "&" if "?" in service else "?"
            return Response("", 302, {"Location": f"{service}{sep}ticket={ticket}"})
        return Response(_LOGIN_FORM.format(service=escape(service)), 200, mimetype="text/html")

    def _validate(self, request: Request, *, with_attributes: bool) -> Response:
        ticket = request.args.get("ticket", "")
        service = request.args.get("service", "")
        with self._lock:
            self.validations += 1
            issued = self.tickets.pop(ticket, None)  # single use, even when it fails
        if self.override is not None:
            return Response(self.override, 200, mimetype="application/xml")
        ns = 'xmlns:cas="http://www.yale.edu/tp/cas"'
        if issued is None or issued[0] != service:
            code = "INVALID_TICKET" if issued is None else "INVALID_SERVICE"
            body = (
                f'<cas:serviceResponse {ns}><cas:authenticationFailure code="{code}">'
                f"Ticket {escape(ticket)} not recognized</cas:authenticationFailure>"
                "</cas:serviceResponse>"
            )
        else:
            user = issued[1]
            attributes = ""
            if with_attributes:
                attributes = (
                    "<cas:attributes>"
                    + "".join(
                        f"<cas:{k}>{escape(v)}</cas:{k}>" for k, v in CAS_PEOPLE[user].items()
                    )
                    + "</cas:attributes>"
                )
            body = (
                f"<cas:serviceResponse {ns}><cas:authenticationSuccess>"
                f"<cas:user>{escape(user)}</cas:user>{attributes}"
                "</cas:authenticationSuccess></cas:serviceResponse>"
            )
        return Response(body, 200, mimetype="application/xml")

    def sign_in(self, login_url: str, username: str) -> str:
        """Submit the CAS login form; return the service URL with its ticket (not followed)."""
        service = dict(
            p.split("=", 1) for p in urlsplit(login_url).query.split("&") if "=" in p
        ).get("service", "")
        response = requests.post(
            login_url,
            data={
                "username": username,
                "password": "x",
                "service": requests.utils.unquote(service),
            },
            allow_redirects=False,
            timeout=5,
        )
        assert response.status_code == 302, response.text
        return str(response.headers["Location"])


@pytest.fixture(scope="session", name="cas_server")
def cas_server_fixture() -> Iterator[CasServer]:
    server = CasServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
