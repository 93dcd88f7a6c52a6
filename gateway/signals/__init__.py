"""Signals: "also on another partner's list" — hit/no-hit between partners on keyed pseudonyms.

``pseudonyms`` (the matching key chain) · ``rotation`` (rotating it; the start-up check) ·
``tables`` · ``store`` (rows as values, the statements on them) · ``lifecycle`` (periods) ·
``decision`` (the policy's answer) · ``service`` (register, withdraw, match, the clock — decided
by the policy, ledgered) · ``reading`` (what an agency sees: its signals, its matches) ·
``webhooks`` (signed push notifications with retries) · ``cases`` (a case from a match).
docs/signals.md is the agency developer's guide, docs/signals-policy.md the privacy officer's,
ADR 0013 the design of the pseudonyms.
"""
