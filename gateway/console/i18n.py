"""The consoles' words in Dutch (the default) and English.

One table, key → (Dutch, English). The language is the reader's choice (a cookie set by the
switch in every page's header); a key missing from the table is a programming error that the
tests find (every template is rendered in both languages).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fastapi import Request

Language = Literal["nl", "en"]
LANGUAGES: tuple[Language, ...] = ("nl", "en")
COOKIE = "console-lang"

MESSAGES: dict[str, tuple[str, str]] = {
    # Frame
    "app.title": ("Deelpoort zorg en veiligheid", "Care-and-safety sharing gateway"),
    "app.skip": ("Naar de inhoud", "Skip to content"),
    "app.nav": ("Hoofdmenu", "Main menu"),
    "app.language": ("Taal", "Language"),
    "app.signed_in_as": ("Aangemeld als", "Signed in as"),
    "app.sign_in": ("Aanmelden", "Sign in"),
    "app.sign_out": ("Afmelden", "Sign out"),
    "app.roles.privacy_officer": ("privacy officer", "privacy officer"),
    "app.roles.auditor": ("auditor", "auditor"),
    "app.welcome": (
        "Console voor privacy officers en auditors van de deelpoort.",
        "Console for the gateway's privacy officers and auditors.",
    ),
    "app.signed_out": (
        "U bent niet aangemeld. Meld u aan met het account van uw organisatie.",
        "You are not signed in. Sign in with your organisation's account.",
    ),
    "app.no_role": (
        "Uw account heeft geen rol voor deze console (privacy officer of auditor).",
        "Your account has no role for this console (privacy officer or auditor).",
    ),
    "app.filter": ("Filteren", "Filter"),
    "app.any": ("(alle)", "(any)"),
    "app.none": ("Geen.", "None."),
    "app.submit": ("Versturen", "Submit"),
    "app.download": ("Downloaden", "Download"),
    "app.back": ("Terug", "Back"),
    # Errors
    "error.title": ("Dat ging niet", "That did not work"),
    "error.forbidden": (
        "Deze pagina hoort niet bij uw rol.",
        "This page is not part of your role.",
    ),
    "error.expired": (
        "Uw sessie is verlopen. Meld u opnieuw aan.",
        "Your session has ended. Please sign in again.",
    ),
    "error.csrf": (
        "Het formulier is verlopen of kwam niet van deze console. Probeer het opnieuw.",
        "The form expired or did not come from this console. Please try again.",
    ),
    "error.login": (
        "Aanmelden is niet gelukt. Probeer het opnieuw.",
        "Signing in did not work. Please try again.",
    ),
    "error.not_found": ("Deze pagina bestaat niet.", "This page does not exist."),
    "error.invalid": ("Controleer de invoer:", "Please check what you entered:"),
    "error.unavailable": (
        "Dit onderdeel is nu niet beschikbaar; er is niets getoond.",
        "This part is not available now; nothing was shown.",
    ),
    # Local provider
    "idp.title": ("Aanmelden bij de lokale identiteitsprovider", "Sign in at the local provider"),
    "idp.note": (
        "Alleen voor demo en tests: in gebruik meldt u zich aan bij de provider van uw "
        "organisatie.",
        "Demo and tests only: in use you sign in at your organisation's provider.",
    ),
    "idp.username": ("Gebruikersnaam", "User name"),
    "idp.password": ("Wachtwoord", "Password"),
    "idp.wrong": (
        "Gebruikersnaam of wachtwoord klopt niet.",
        "The user name or password is not right.",
    ),
    "idp.throttled": (
        "Te veel mislukte pogingen; probeer het later opnieuw.",
        "Too many failed attempts; try again later.",
    ),
    # Privacy officer
    "po.home": ("Privacy officer", "Privacy officer"),
    "po.matrix": ("Deelmatrix", "Sharing matrix"),
    "po.matrix.intro": (
        "Welke velden elke rol per doel en fase mag ontvangen, zoals de beleidsset in werking "
        "het toestaat (zonder spoed, zonder toestemming).",
        "Which fields each role may receive per purpose and stage, as the policy in force "
        "allows it (not urgent, no consent).",
    ),
    "po.dry_run": ("Proefbeslissing", "Dry run"),
    "po.dry_run.intro": (
        "Wat het beleid zou beslissen voor een verzoek, per veld uitgelegd. Er wordt niets "
        "opgehaald en geen persoon genoemd.",
        "What the policy would decide for a request, explained field by field. Nothing is "
        "fetched and no person is named.",
    ),
    "po.bundles": ("Beleidsversies", "Policy versions"),
    "po.bundles.intro": (
        "Elke activering van een beleidsversie, zoals het grootboek die vastlegde.",
        "Every activation of a policy version, as the ledger recorded it.",
    ),
    "po.in_force": ("in werking", "in force"),
    "po.unsigned": ("niet ondertekend (ontwikkelmodus)", "unsigned (development mode)"),
    "po.built": ("Gebouwd", "Built"),
    "po.activated_by": ("Geactiveerd door", "Activated by"),
    "po.certificate": ("Bewijscertificaat", "Proof certificate"),
    "po.proved": ("bewezen", "proved"),
    "po.counter_example": ("tegenvoorbeeld gevonden", "counter-example found"),
    "po.incomplete": (
        "onvolledig: het beleid leest meer dan de invoerruimte toont",
        "incomplete: the policy reads more than the input space shows",
    ),
    "po.invariants": ("Invarianten", "Invariants"),
    "po.no_certificate": (
        "Geen bewaard certificaat (`gateway policy prove --save`).",
        "No certificate kept (`gateway policy prove --save`).",
    ),
    "po.replay": ("Herafspelen", "Replay"),
    "po.replay.intro": (
        "Wat er veranderd was als een kandidaat-beleid de verzoeken uit het grootboek had "
        "beslist: nieuw toegestaan of geweigerd, velden erbij of eraf. De vastgelegde "
        "beleidsinvoer opent alleen met de sleutel van de auditor: die van uw sessie, of een "
        "sleutel die een auditor hier voor deze ene keer invoert (vier ogen; niet bewaard).",
        "What would have changed had a candidate policy decided the ledger's requests: newly "
        "allowed or denied, fields gained or lost. The recorded policy inputs open only with "
        "the auditor's key: your session's, or one an auditor enters here for this replay "
        "only (four eyes; not kept).",
    ),
    "po.candidate": ("Kandidaat", "Candidate"),
    "po.candidate.bundle": ("Ondertekende bundel (upload)", "Signed bundle (upload)"),
    "po.candidate.directory": (
        "De beleidsmap van deze deelpoort (ontwikkelmodus)",
        "This gateway's policy directory (development mode)",
    ),
    "po.bundle_file": ("Bundelbestand", "Bundle file"),
    "po.replay.key": ("Sleutel van de auditor", "The auditor's key"),
    "po.replay.run": ("Herafspelen", "Replay"),
    "po.replay.requests": ("Verzoeken herafgespeeld", "Requests replayed"),
    "po.replay.decisions": ("Bronbeslissingen vergeleken", "Source decisions compared"),
    "po.replay.changed": ("Verzoeken met verschil", "Requests that change"),
    "po.replay.unreadable": (
        "Niet leesbaar (bewaartermijn verstreken)",
        "Unreadable (past retention)",
    ),
    "po.replay.per": ("Per doel en organisatie", "Per purpose and organisation"),
    "po.replay.kind": ("Soort", "Kind"),
    "po.replay.changes": ("Verschillen", "Differences"),
    "po.replay.gained": ("Erbij", "Gained"),
    "po.replay.lost": ("Eraf", "Lost"),
    "po.replay.same": ("Geen verschillen.", "No differences."),
    "po.break_glass": ("Doorbraken te beoordelen", "Break-glass to review"),
    "po.break_glass.intro": (
        "Verstrekkingen met doorbraak (spoed) wachten op beoordeling. Uw oordeel wordt "
        "vastgelegd in het grootboek.",
        "Releases under break-glass (urgency) await review. Your verdict is recorded in the "
        "ledger.",
    ),
    "po.verdict": ("Oordeel", "Verdict"),
    "po.verdict.justified": ("gerechtvaardigd", "justified"),
    "po.verdict.unjustified": ("niet gerechtvaardigd", "not justified"),
    "po.note": ("Toelichting", "Note"),
    "po.sign_off": ("Aftekenen", "Sign off"),
    "po.reviewed": ("Beoordeeld", "Reviewed"),
    "field.purpose": ("Doel", "Purpose"),
    "field.org_type": ("Soort organisatie", "Organisation type"),
    "field.role": ("Rol", "Role"),
    "field.source": ("Bron", "Source"),
    "field.stage": ("Fase", "Stage"),
    "field.field": ("Veld", "Field"),
    "field.transform": ("Vorm", "Form"),
    "field.basis": ("Grondslag", "Legal basis"),
    "field.reasons": ("Redenen", "Reasons"),
    "field.urgent": ("Spoed", "Urgent"),
    "field.relation": ("Relatie tot de casus", "Relation to the case"),
    "field.minor": ("Minderjarig", "Minor"),
    "po.checks": ("Controles op het verzoek", "Checks on the request"),
    "po.check": ("Controle", "Check"),
    "po.steps": ("Stappen van de regel", "Steps of the rule"),
    "field.consent": ("Toestemming", "Consent"),
    "field.justification": ("Onderbouwing", "Justification"),
    "field.version": ("Versie", "Version"),
    "field.previous": ("Vorige", "Previous"),
    "field.origin": ("Herkomst", "Origin"),
    "field.signer": ("Ondertekend door", "Signed by"),
    "field.activated": ("Geactiveerd", "Activated"),
    "field.time": ("Tijd", "Time"),
    "field.organisation": ("Organisatie", "Organisation"),
    "field.case": ("Casus", "Case"),
    "field.entry": ("Grootboekregel", "Ledger entry"),
    "field.outcome": ("Uitkomst", "Outcome"),
    "field.from": ("Van", "From"),
    "field.to": ("Tot en met", "To"),
    "field.bsn": ("BSN", "BSN"),
    "field.action": ("Handeling", "Action"),
    "decision.permit": ("toegestaan", "permitted"),
    "decision.partial": ("deels", "partly"),
    "decision.deny": ("geweigerd", "denied"),
    "decision.none": ("Geen velden.", "No fields."),
    # Auditor
    "au.home": ("Auditor", "Auditor"),
    "au.status": ("Grootboek", "Ledger"),
    "au.status.intro": (
        "Of de keten van het grootboek klopt, het laatste controlepunt en zijn verankering.",
        "Whether the ledger's chain holds, the last checkpoint and its anchor.",
    ),
    "au.verify": ("Keten controleren", "Verify the chain"),
    "au.verified": ("De keten klopt", "The chain verifies"),
    "au.broken": ("De keten klopt NIET", "The chain does NOT verify"),
    "au.entries": ("Regels", "Entries"),
    "au.checkpoint": ("Laatste controlepunt", "Last checkpoint"),
    "au.anchor": ("Verankering", "Anchor"),
    "au.search": ("Zoeken", "Search"),
    "au.search.intro": (
        "Zoek regels op organisatie, doel en periode. Zoeken op een persoon gaat via het "
        "formulier hieronder: het BSN komt nooit in een adres.",
        "Find entries by organisation, purpose and period. Finding a person goes through the "
        "form below: the BSN never appears in an address.",
    ),
    "au.person": ("Persoon", "Person"),
    "au.report": ("Inzageverslag (art. 15 AVG)", "Access report (GDPR art. 15)"),
    "au.key": ("Auditorsleutel voor deze sessie", "Auditor key for this session"),
    "au.key.intro": (
        "Inhoud van regels openen vraagt uw auditorsleutel. Die blijft alleen voor deze sessie, "
        "versleuteld met een sleutel uit uw sessiecookie, en verdwijnt bij afmelden.",
        "Opening entries' contents needs your auditor key. It is kept for this session only, "
        "sealed with a key from your session cookie, and is gone when you sign out.",
    ),
    "au.key.file": ("Sleutelbestand (auditor.key)", "Key file (auditor.key)"),
    "au.key.passphrase": ("Wachtwoordzin", "Passphrase"),
    "au.key.held": (
        "Uw sleutel is voor deze sessie geladen.",
        "Your key is loaded for this session.",
    ),
    "au.key.forget": ("Sleutel vergeten", "Forget the key"),
    "au.key.needed": (
        "Laad eerst uw auditorsleutel voor deze sessie.",
        "Load your auditor key for this session first.",
    ),
    "au.key.wrong": (
        "Dit sleutelbestand of deze wachtwoordzin opent de sleutel niet.",
        "This key file or passphrase does not open the key.",
    ),
    "au.charts": ("Verloop", "Over time"),
    "au.charts.intro": (
        "Verstrekkingen en weigeringen per dag, per organisatie en per doel.",
        "Disclosures and denials per day, per organisation and per purpose.",
    ),
    "au.anomalies": ("Opvallend", "Anomalies"),
    "au.anomalies.intro": (
        "Waar u eerst kijkt: doorbraken, weigeringen per organisatie, verzoeken op gesloten "
        "casussen en dagen met ongewoon veel verzoeken.",
        "Where to look first: break-glass releases, denials per organisation, requests on "
        "closed cases and days with unusual volume.",
    ),
    "au.disclosures": ("Verstrekkingen", "Disclosures"),
    "au.signals": ("Signalen: wie betrokkenheid meldde", "Signals: who registered involvement"),
    "au.area": ("Gebied", "Area"),
    "au.became": ("Wat ermee gebeurde", "What became of it"),
    "au.active": ("actief", "active"),
    "au.matches": (
        "Matches: organisaties op elkaar gewezen",
        "Matches: organisations told of each other",
    ),
    "au.refused_signals": ("Geweigerde signalen", "Refused signals"),
    "au.denials": ("Weigeringen", "Denials"),
    "au.no_person": (
        "Over deze persoon staat niets in het grootboek.",
        "The ledger holds nothing about this person.",
    ),
}


def language(request: Request) -> Language:
    chosen = request.cookies.get(COOKIE)
    return "en" if chosen == "en" else "nl"


def translate(lang: Language, key: str) -> str:
    nl, en = MESSAGES[key]
    return en if lang == "en" else nl


def translator(request: Request) -> Callable[[str], str]:
    lang = language(request)
    return lambda key: translate(lang, key)
