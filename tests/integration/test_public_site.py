"""The public site on the base domain (issue #11, item 2): what the platform does, the price of a
collectivity found in the official list, the contact form to the co-op (one platform outbox row with
the visitor as Reply-To, refused input kept, rate-limited), the way to one's own portal, and no bare
« Not Found » behind any link of the home page."""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from bippop.config import Settings
from bippop.outbox.models import PlatformOutboxMessage
from bippop.runtime.resources import PlatformResources
from bippop.tenants.context import TenantRef
from support import BASE_DOMAIN

PUBLIC = {"Host": BASE_DOMAIN}
EN = {"bippop_lang": "en"}


def words(html: str) -> str:
    """The page's text with every kind of space as one plain space (French money has narrow ones)."""
    text = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"[\s\u00a0\u202f]+", " ", text)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.actions: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]))
        if tag == "form" and values.get("action"):
            self.actions.append(str(values["action"]))


def links_of(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


async def csrf(client: AsyncTestClient) -> str:  # type: ignore[type-arg]
    """The token the contact form carries (as a browser sends it back)."""
    page = await client.get("/contact", headers=PUBLIC)
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found, "the contact form carries no CSRF token"
    return found.group(1)


def platform_rows(resources: PlatformResources, reply_to: str) -> list[PlatformOutboxMessage]:
    with resources.sessions()() as session:
        return list(
            session.scalars(select(PlatformOutboxMessage).where(PlatformOutboxMessage.reply_to == reply_to))
        )


# The home page ---------------------------------------------------------------------------


async def test_home_says_what_for_whom_how_and_links_to_the_wizard_and_the_demo(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    response = await client.get("/", headers=PUBLIC)
    assert response.status_code == 200
    text = words(response.text)
    for expected in ("Ce que fait la plateforme", "Pour qui", "Bénévoles", "en trois étapes"):
        assert expected in text, expected
    assert "Créer le portail de ma collectivité" in text
    links = links_of(response.text)
    assert "/inscription" in links.hrefs and "/contact" in links.hrefs and "/connexion" in links.hrefs
    # The demo portal's absolute address comes from the settings, never from the Host header.
    assert f"http://demo.{BASE_DOMAIN}/" in links.hrefs
    forged = await client.get("/", headers={"Host": f"www.{BASE_DOMAIN}:9999"})
    assert f"http://demo.{BASE_DOMAIN}/" in links_of(forged.text).hrefs
    assert "/tarifs" in links.actions
    english = await client.get("/", headers=PUBLIC, cookies=EN)
    assert "Create my collectivity's portal" in english.text and "What the platform does" in english.text


async def test_no_link_of_the_home_page_answers_not_found(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    home = await client.get("/", headers=PUBLIC)
    found = links_of(home.text)
    local = {h for h in found.hrefs + found.actions if not urlsplit(h).netloc and not h.startswith("#")}
    assert {"/contact", "/connexion", "/tarifs", "/inscription"} <= {urlsplit(h).path for h in local}
    for href in sorted(local):
        response = await client.get(href, headers={**PUBLIC, "Accept": "text/html"})
        assert response.status_code != 404, href
        assert response.text.strip() != "Not Found", href
    # An unknown path on the public site gets the themed page, not a bare answer.
    missing = await client.get("/nulle-part", headers={**PUBLIC, "Accept": "text/html"})
    assert missing.status_code == 404 and "Page introuvable" in missing.text and "<html" in missing.text


# The price --------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["compiegne", "60200", "Compiègne"])
async def test_search_finds_compiegne(client: AsyncTestClient, query: str) -> None:  # type: ignore[type-arg]
    response = await client.get("/tarifs", params={"q": query}, headers=PUBLIC)
    assert response.status_code == 200
    assert "Compiègne (60 – Oise)" in response.text
    assert "/tarifs?collectivite=commune%3A60159" in links_of(response.text).hrefs


async def test_price_of_compiegne_from_its_population(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    from bippop.collectivities import find

    compiegne = find("commune", "60159")
    assert compiegne is not None
    response = await client.get("/tarifs", params={"collectivite": "commune:60159"}, headers=PUBLIC)
    assert response.status_code == 200
    cents = compiegne.population * 25  # EUR 0.25 per inhabitant per year, the default plan
    euros = f"{cents // 100:,}".replace(",", " ") + f",{cents % 100:02d} €"
    assert f"{euros} HT par an" in words(response.text)
    assert "Créer le portail de ma collectivité" in words(response.text)


async def test_price_for_16420_inhabitants_is_4105_euros_excluding_vat(
    client: AsyncTestClient,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's figure: on the default plan, a commune of 16,420 inhabitants pays EUR 4,105.00 excl.
    VAT per year — shown in French and in English, the VAT apart (the list's Compiègne, given that
    population for this test)."""
    import dataclasses

    from bippop import collectivities
    from bippop.onboarding.public_site import services

    compiegne = collectivities.find("commune", "60159")
    assert compiegne is not None
    smaller = dataclasses.replace(compiegne, population=16_420)
    monkeypatch.setattr(services.collectivities, "find", lambda kind, code: smaller)
    response = await client.get("/tarifs", params={"collectivite": "commune:60159"}, headers=PUBLIC)
    text = words(response.text)
    assert "4 105,00 € HT par an" in text
    assert "16 420 habitants" in text
    assert "821,00 €" in text and "4 926,00 € TTC par an" in text  # VAT at 20 %, apart
    english = words(
        (
            await client.get("/tarifs", params={"collectivite": "commune:60159"}, headers=PUBLIC, cookies=EN)
        ).text
    )
    assert "€4,105.00 excl. VAT per year" in english and "16,420 inhabitants" in english


async def test_an_unknown_choice_is_said_calmly(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/tarifs", params={"collectivite": "commune:99999"}, headers=PUBLIC)
    assert response.status_code == 404
    assert "pas dans la liste officielle" in response.text and "<html" in response.text
    nothing = await client.get("/tarifs", params={"q": "zzzzqqqxw"}, headers=PUBLIC)
    assert nothing.status_code == 200 and "Aucune collectivité ne correspond" in nothing.text


async def test_htmx_search_gets_the_results_in_the_page(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/tarifs", params={"q": "60200"}, headers={**PUBLIC, "HX-Request": "true"})
    assert response.status_code == 200 and 'id="search-results"' in response.text


# The contact form -------------------------------------------------------------------------


async def test_contact_form_queues_one_platform_message_with_the_visitor_as_reply_to(
    client: AsyncTestClient,  # type: ignore[type-arg]
    resources: PlatformResources,
    settings: Settings,
) -> None:
    token = await csrf(client)
    visitor = f"maire-{uuid.uuid4().hex[:6]}@mairie-exemple.fr"
    form = {
        "name": "Claire Martin",
        "email": visitor,
        "collectivity": "Margny-lès-Compiègne",
        "message": "Bonjour,\ncombien coûte le service pour 8 000 habitants ?",
        "website": "",
        "_csrf_token": token,
    }
    response = await client.post("/contact", data=form, headers=PUBLIC, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/contact/merci"
    thanks = await client.get("/contact/merci", headers=PUBLIC)
    assert thanks.status_code == 200 and "Merci" in thanks.text
    (row,) = platform_rows(resources, visitor)
    assert row.recipient == settings.coop_contact_email and row.status == "pending"
    assert "Claire Martin" in row.body and "8 000 habitants" in row.body and "Margny" in row.subject


async def test_contact_form_refuses_bad_input_next_to_each_field_and_keeps_it(
    client: AsyncTestClient,  # type: ignore[type-arg]
    resources: PlatformResources,
) -> None:
    token = await csrf(client)
    typed = "Un message trop long. " * 300  # 6,600 characters
    form = {"name": "", "email": "pas-une-adresse", "collectivity": "Compiègne", "message": typed}
    response = await client.post("/contact", data={**form, "_csrf_token": token}, headers=PUBLIC)
    assert response.status_code == 400
    html = response.text
    assert 'id="error-name"' in html and 'id="error-email"' in html and 'id="error-message"' in html
    assert 'aria-describedby="hint-email error-email"' in html
    assert 'value="pas-une-adresse"' in html and 'value="Compiègne"' in html
    assert typed.strip() in html  # the long message is given back whole
    assert "5 000 caractères" in words(html)
    header_trick = {**form, "name": "Eve", "email": "eve@example.org,victim@example.org", "message": "x"}
    refused = await client.post("/contact", data={**header_trick, "_csrf_token": token}, headers=PUBLIC)
    assert refused.status_code == 400 and 'id="error-email"' in refused.text
    assert platform_rows(resources, "eve@example.org,victim@example.org") == []


async def test_the_honeypot_is_thanked_and_nothing_is_sent(
    client: AsyncTestClient,  # type: ignore[type-arg]
    resources: PlatformResources,
) -> None:
    token = await csrf(client)
    robot = f"robot-{uuid.uuid4().hex[:6]}@example.org"
    form = {
        "name": "R",
        "email": robot,
        "message": "Buy",
        "website": "http://spam.example",
        "_csrf_token": token,
    }
    response = await client.post("/contact", data=form, headers=PUBLIC, follow_redirects=False)
    assert response.status_code == 303
    assert platform_rows(resources, robot) == []


async def test_contact_form_is_rate_limited(
    client: AsyncTestClient,  # type: ignore[type-arg]
    resources: PlatformResources,
) -> None:
    token = await csrf(client)
    sender = f"insistant-{uuid.uuid4().hex[:6]}@example.org"
    form = {"name": "Paul", "email": sender, "message": "Bonjour", "_csrf_token": token}
    for _ in range(3):  # three messages an hour from one sender
        sent = await client.post("/contact", data=form, headers=PUBLIC, follow_redirects=False)
        assert sent.status_code == 303
    refused = await client.post("/contact", data=form, headers=PUBLIC)
    assert refused.status_code == 400 and "Trop d’essais" in refused.text
    assert 'value="Paul"' in refused.text and "Bonjour" in refused.text
    assert len(platform_rows(resources, sender)) == 3
    # Five an hour from one address, whatever the sender.
    other = {**form, "email": f"autre-{uuid.uuid4().hex[:6]}@example.org"}
    assert (
        await client.post("/contact", data=other, headers=PUBLIC, follow_redirects=False)
    ).status_code == 303
    assert (
        await client.post("/contact", data=other, headers=PUBLIC, follow_redirects=False)
    ).status_code == 303
    capped = await client.post("/contact", data=other, headers=PUBLIC)
    assert capped.status_code == 400 and "Trop d’essais" in capped.text


async def test_the_tenants_contact_page_is_still_the_town_halls(
    client: AsyncTestClient,  # type: ignore[type-arg]
    tenant: TenantRef,
) -> None:
    response = await client.get("/contact", headers={"Host": f"alpha.{BASE_DOMAIN}"})
    assert response.status_code == 200 and "Contacter la mairie" in response.text
    posted = await client.post("/contact", data={"name": "x"}, headers={"Host": f"alpha.{BASE_DOMAIN}"})
    assert posted.status_code in (403, 404, 405)  # no form to the co-op on a tenant's host


# Signing in on one's portal --------------------------------------------------------------


async def test_sign_in_finds_only_collectivities_on_the_platform(
    client: AsyncTestClient,  # type: ignore[type-arg]
    tenant: TenantRef,
) -> None:
    page = await client.get("/connexion", headers=PUBLIC)
    assert page.status_code == 200 and "Trouvez votre collectivité" in page.text
    found = await client.get("/connexion", params={"q": "compiegne"}, headers=PUBLIC)
    assert "/connexion?collectivite=commune%3A60159" in links_of(found.text).hrefs
    elsewhere = await client.get("/connexion", params={"q": "Margny-lès-Compiègne"}, headers=PUBLIC)
    assert "Margny-lès-Compiègne (60" not in elsewhere.text  # in the list, but not on the platform


@pytest.mark.parametrize(
    "host_header", [BASE_DOMAIN, f"www.{BASE_DOMAIN}", f"{BASE_DOMAIN}:8443", BASE_DOMAIN.upper()]
)
async def test_sign_in_sends_to_the_tenants_registered_address_whatever_the_host(
    client: AsyncTestClient,  # type: ignore[type-arg]
    tenant: TenantRef,
    host_header: str,
) -> None:
    response = await client.get(
        "/connexion",
        params={"collectivite": "commune:60159"},
        headers={"Host": host_header},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "http://aide.alphaville.fr/connexion"


async def test_sign_in_for_a_collectivity_without_portal_offers_to_create_it(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    response = await client.get("/connexion", params={"collectivite": "departement:2A"}, headers=PUBLIC)
    assert response.status_code == 200
    assert "pas encore de portail" in response.text and 'href="/inscription"' in response.text
