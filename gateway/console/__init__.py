"""Consoles for privacy officers and auditors: server-rendered pages inside the gateway
(``/console``), behind their own OpenID Connect sign-in, using the same functions as the
``gateway policy`` and ``gateway audit`` commands. See docs/privacy-officers.md, docs/auditors.md
and docs/adr/0014-console-auditor-key.md."""
