"""Sign-in, roles, sessions and CSRF of the consoles (HTTP level; the browser tests are in
test_console_browser.py)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from gateway.console.oidc import OidcClient
from gateway.console.provider import DEMO_USERS, LocalProvider, load_users
from gateway.console.sessions import Identity, PendingLogin, SessionStore
from gateway.console.tables import console_session
from gateway.errors import AuthenticationFailed
from gateway.testing import (
    CONSOLE_URL,
    CONSOLE_USERS,
    TestGateway,
    console_client,
    console_csrf,
    console_sign_in,
    make_test_gateway,
)

OFFICER_PAGES = [
    "/console/policy/matrix",
    "/console/policy/dry-run",
    "/console/policy/versions",
    "/console/policy/break-glass",
]
AUDITOR_PAGES = [
    "/console/audit",
    "/console/audit/search",
    "/console/audit/charts",
    "/console/audit/anomalies",
    "/console/audit/key",
]


def test_signed_out_pages_send_to_sign_in(cgw: TestGateway) -> None:
    client = console_client(cgw)
    home = client.get("/console/")
    assert home.status_code == 200 and 'href="/console/login"' in home.text
    for path in OFFICER_PAGES + AUDITOR_PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/", path
    assert client.post("/console/logout", data={"csrf": "x"}).status_code == 401


@pytest.mark.parametrize(
    ("user", "allowed", "refused"),
    [
        ("privacy.officer", OFFICER_PAGES, AUDITOR_PAGES),
        ("auditor", AUDITOR_PAGES, OFFICER_PAGES),
        ("dpo", OFFICER_PAGES + AUDITOR_PAGES, []),
        ("no.role", [], OFFICER_PAGES + AUDITOR_PAGES),
    ],
)
def test_each_role_reaches_its_pages_and_only_those(
    cgw: TestGateway, user: str, allowed: list[str], refused: list[str]
) -> None:
    client = console_client(cgw)
    landed = console_sign_in(client, user)
    assert landed.status_code == 200 and str(landed.url).endswith("/console/")
    for path in allowed:
        assert client.get(path).status_code == 200, path
        assert f'href="{path}"' in landed.text  # and the menu offers it
    for path in refused:
        r = client.get(path)
        assert r.status_code == 403, path
        assert f'href="{path}"' not in landed.text


def test_cookies_are_host_only_secure_and_httponly(cgw: TestGateway) -> None:
    client = console_client(cgw)
    start = client.get("/console/login", follow_redirects=False)
    cookie = start.headers["set-cookie"]
    assert cookie.startswith("__Host-console-login=")
    for flag in ("HttpOnly", "Path=/", "Secure", "SameSite=lax"):
        assert flag.lower() in cookie.lower()
    assert "domain" not in cookie.lower()
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert "code_verifier" not in query  # the verifier never leaves the gateway


def test_a_callback_is_accepted_once_and_only_from_the_browser_that_started(
    cgw: TestGateway,
) -> None:
    victim, attacker = console_client(cgw), console_client(cgw)
    start = attacker.get("/console/login", follow_redirects=False)
    page = attacker.get(start.headers["location"])
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    form.update(username="auditor", password="demo-auditor-2026")
    callback = attacker.post("/local-idp/authorize", data=form, follow_redirects=False)
    target = callback.headers["location"]
    # Login CSRF: the attacker's callback URL in the victim's browser signs no one in.
    assert victim.get(target).status_code == 401
    assert victim.get("/console/audit", follow_redirects=False).status_code == 303
    # The pending sign-in is bound to the cookie of the browser that started it: there it
    # works, once.
    assert attacker.get(target).status_code == 200
    assert attacker.get(target).status_code == 401  # a code and a pending sign-in, used once


def test_a_changed_state_is_refused(cgw: TestGateway) -> None:
    client = console_client(cgw)
    start = client.get("/console/login", follow_redirects=False)
    page = client.get(start.headers["location"])
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    form.update(username="auditor", password="demo-auditor-2026", state="forged")
    callback = client.post("/local-idp/authorize", data=form, follow_redirects=False)
    assert client.get(callback.headers["location"]).status_code == 401


def test_a_wrong_password_says_nothing_about_the_user_name(cgw: TestGateway) -> None:
    client = console_client(cgw)
    start = client.get("/console/login", follow_redirects=False)
    page = client.get(start.headers["location"])
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    answers = []
    for user in ("auditor", "nobody-by-this-name"):
        r = client.post("/local-idp/authorize", data={**form, "username": user, "password": "x"})
        answers.append((r.status_code, re.sub(r'value="[^"]*"', "", r.text)))
    assert answers[0] == answers[1] and answers[0][0] == 401


def test_an_overlong_sign_in_value_is_refused_without_repeating_it(cgw: TestGateway) -> None:
    # Found by a hostile-client probe: FastAPI's 422 JSON repeated the submitted password.
    client = console_client(cgw)
    start = client.get("/console/login", follow_redirects=False)
    page = client.get(start.headers["location"])
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    password = "secret-" + "p" * 300
    r = client.post(
        "/local-idp/authorize", data={**form, "username": "auditor", "password": password}
    )
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "secret-" not in r.text


def test_failed_sign_ins_are_limited_before_any_password_is_hashed(fresh: TestGateway) -> None:
    # Found by a hostile-client probe: the local provider checked a password (scrypt) on every
    # attempt, without limit: guessing at scrypt's pace, and CPU for the asking.
    client = console_client(fresh)
    start = client.get("/console/login", follow_redirects=False)
    page = client.get(start.headers["location"])
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    limit = fresh.gateway.settings.auth_failures_per_client
    wrong = [
        client.post("/local-idp/authorize", data={**form, "username": "auditor", "password": "x"})
        for _ in range(limit)
    ]
    assert [r.status_code for r in wrong] == [401] * limit
    right = {**form, "username": "auditor", "password": CONSOLE_USERS["auditor"]}
    blocked = client.post("/local-idp/authorize", data=right)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    # Another user from the same peer is not blocked yet (the peer's limit is higher).
    other = {**form, "username": "dpo", "password": CONSOLE_USERS["dpo"]}
    assert (
        client.post("/local-idp/authorize", data=other, follow_redirects=False).status_code == 303
    )


def test_sign_ins_under_way_are_bounded(fresh: TestGateway) -> None:
    # Anyone may start a sign-in (a row for ten minutes): a loop of them must not grow the
    # database without end.
    from gateway.errors import Unavailable

    store = SessionStore(
        fresh.gateway.db,
        fresh.gateway.seals,
        idle=timedelta(minutes=15),
        lifetime=timedelta(hours=8),
        max_pending=3,
    )
    for _ in range(3):
        store.start_login()
    with pytest.raises(Unavailable) as refused:
        store.start_login()
    assert refused.value.headers["Retry-After"] == "60"


def test_csrf_token_and_origin_are_required_on_every_form(cgw: TestGateway) -> None:
    client = console_client(cgw)
    page = console_sign_in(client, "dpo")
    token = console_csrf(page.text)
    assert client.post("/console/audit/person", data={"bsn": "111222333"}).status_code == 403
    wrong = client.post("/console/audit/person", data={"bsn": "111222333", "csrf": "x" * 40})
    assert wrong.status_code == 403
    elsewhere = client.post(
        "/console/audit/person",
        data={"bsn": "111222333", "csrf": token},
        headers={"Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    ok = client.post(
        "/console/audit/person",
        data={"bsn": "111222333", "csrf": token},
        headers={"Origin": "https://gateway.test"},
    )
    assert ok.status_code == 200


def test_sign_out_ends_the_session_everywhere(cgw: TestGateway) -> None:
    client = console_client(cgw)
    page = console_sign_in(client, "auditor")
    stolen = client.cookies.get("__Host-console")
    assert client.post("/console/logout", data={"csrf": console_csrf(page.text)}).status_code == 200
    other = console_client(cgw)
    other.cookies.set("__Host-console", stolen or "", domain="gateway.test")
    assert other.get("/console/audit", follow_redirects=False).status_code == 303


def test_a_session_row_written_behind_the_gateways_back_is_no_session(
    fresh: TestGateway,
) -> None:
    # A session is found by its cookie's SHA-256: whoever can write the database could make a
    # row for a cookie of their own, with any role. Its seal (ADR 0017) cannot be made so.
    import hashlib

    from sqlalchemy import insert

    cookie = "forged-cookie-value"
    row = {
        "id_hash": hashlib.sha256(cookie.encode()).hexdigest(),
        "subject": "mallory",
        "name": "Mallory",
        "roles": "auditor privacy_officer",
        "csrf": "x",
        "created_at": "2026-11-24T09:00:00+00:00",
        "last_seen_at": "2099-01-01T00:00:00+00:00",
        "auditor_key": None,
    }
    db = fresh.gateway.db
    store = SessionStore(
        db, fresh.gateway.seals, idle=timedelta(days=36500), lifetime=timedelta(days=36500)
    )
    for seal in (None, "0" * 64):
        with db.begin() as conn:
            conn.execute(console_session.delete())
            conn.execute(insert(console_session).values(**row, seal=seal))
        assert store.get(cookie) is None
        forged = console_client(fresh)
        forged.cookies.set("__Host-console", cookie, domain="gateway.test")
        assert forged.get("/console/audit", follow_redirects=False).status_code == 303
    # A session the gateway opened is one; the same row with its roles widened is not.
    token = store.open(Identity("u", "U", frozenset({"privacy_officer"})))
    assert store.get(token) is not None
    with db.begin() as conn:
        conn.execute(update(console_session).values(roles="auditor privacy_officer"))
    assert store.get(token) is None


def test_pages_carry_a_strict_content_security_policy(cgw: TestGateway) -> None:
    client = console_client(cgw)
    console_sign_in(client, "dpo")
    for path in ["/console/", *OFFICER_PAGES, *AUDITOR_PAGES]:
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "<script" not in r.text  # progressive enhancement: no script at all
        assert "http://" not in r.text and "https://" not in r.text.replace(
            "https://gateway.test", ""
        )  # nothing from elsewhere


def test_every_page_renders_in_dutch_and_english(cgw: TestGateway) -> None:
    client = console_client(cgw)
    console_sign_in(client, "dpo")
    titles = {}
    for lang in ("nl", "en"):
        client.get(f"/console/lang/{lang}")
        for path in ["/console/", *OFFICER_PAGES, *AUDITOR_PAGES]:
            r = client.get(path)
            assert r.status_code == 200 and f'<html lang="{lang}">' in r.text
            titles[lang, path] = re.search(r"<h1>(.*?)</h1>", r.text)
    assert titles["nl", "/console/policy/matrix"].group(1) == "Deelmatrix"  # type: ignore[union-attr]
    assert titles["en", "/console/policy/matrix"].group(1) == "Sharing matrix"  # type: ignore[union-attr]


def test_idle_and_absolute_timeouts_end_a_session(fresh: TestGateway) -> None:
    db = fresh.gateway.db
    store = SessionStore(
        db, fresh.gateway.seals, idle=timedelta(minutes=15), lifetime=timedelta(hours=8)
    )
    token = store.open(Identity("u", "U", frozenset({"auditor"})))
    assert store.get(token) is not None
    with db.begin() as conn:
        conn.execute(update(console_session).values(last_seen_at="2000-01-01T00:00:00+00:00"))
    assert store.get(token) is None
    with db.connect() as conn:
        assert conn.execute(select(console_session)).first() is None  # the row went with it
    token = store.open(Identity("u", "U", frozenset({"auditor"})))
    past = SessionStore(db, fresh.gateway.seals, idle=timedelta(minutes=15), lifetime=-store.idle)
    assert past.get(token) is None  # past its lifetime: ended, and its row went with it
    with db.connect() as conn:
        assert conn.execute(select(console_session)).first() is None
    # The server's purge removes ended sessions whose browser never returns.
    kept = store.open(Identity("k", "K", frozenset({"auditor"})))
    store.open(Identity("gone", "G", frozenset({"auditor"})))
    with db.begin() as conn:
        conn.execute(
            update(console_session)
            .where(console_session.c.subject == "gone")
            .values(last_seen_at="2000-01-01T00:00:00+00:00")
        )
    assert store.purge() == 1 and store.get(kept) is not None


def test_the_provider_insists_on_pkce_and_the_registered_redirect() -> None:
    provider = LocalProvider(
        "https://idp.test", "gateway-console", "https://gw.test/cb", load_users(DEMO_USERS)
    )
    good = {
        "client_id": "gateway-console",
        "redirect_uri": "https://gw.test/cb",
        "response_type": "code",
        "code_challenge_method": "S256",
        "code_challenge": "x" * 43,
        "scope": "openid profile",
    }
    assert provider.request_problem(good) is None
    assert provider.request_problem({**good, "redirect_uri": "https://evil.test/cb"})
    assert provider.request_problem({**good, "code_challenge_method": "plain"})
    assert provider.request_problem({**good, "client_id": "other"})

    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    user = provider.sign_in("auditor", "demo-auditor-2026")
    assert user is not None
    verifier = "v" * 50
    params = {**good, "code_challenge": create_s256_code_challenge(verifier), "nonce": "n"}
    form = {
        "grant_type": "authorization_code",
        "client_id": "gateway-console",
        "redirect_uri": "https://gw.test/cb",
    }
    code = provider.grant(user, params)
    assert provider.token({**form, "code": code, "code_verifier": "w" * 50}) is None
    code = provider.grant(user, params)
    assert provider.token({**form, "code": code, "code_verifier": verifier}) is not None
    assert provider.token({**form, "code": code, "code_verifier": verifier}) is None


def test_the_id_token_must_be_for_this_client_this_sign_in_and_now() -> None:
    client = OidcClient("https://idp.test", "gateway-console", None, "roles")
    import time

    now = int(time.time())
    good = {
        "iss": "https://idp.test",
        "aud": "gateway-console",
        "sub": "u1",
        "exp": now + 60,
        "iat": now,
        "nonce": "n1",
        "roles": ["auditor", "admin"],
    }
    identity = client._identity(good, "n1")
    assert identity.roles == frozenset({"auditor"})  # unknown roles are dropped
    for bad in (
        {"iss": "https://other.test"},
        {"aud": "another-client"},
        {"exp": now - 3600},
        {"iat": now + 3600},
        {"nonce": "n2"},
        {"sub": ""},
    ):
        with pytest.raises(AuthenticationFailed):
            client._identity({**good, **bad}, "n1")
    pending = PendingLogin("s", "n", "v" * 43)
    assert pending.nonce == "n"


def test_without_a_reachable_provider_sign_in_fails_closed(tmp_path: Path) -> None:
    gw = make_test_gateway(
        tmp_path, public_url=CONSOLE_URL, console_oidc_issuer="https://127.0.0.1:9/nowhere"
    )
    try:
        client = console_client(gw)
        r = client.get("/console/login", follow_redirects=False)
        assert r.status_code == 503 and "niet beschikbaar" in r.text
        assert "__Host-console=" not in r.headers.get("set-cookie", "")
        assert client.get("/console/audit", follow_redirects=False).status_code == 303
    finally:
        gw.close()
