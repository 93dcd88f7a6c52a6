"""Signals: "also on another partner's list" — hit/no-hit between partners on keyed pseudonyms.

``pseudonyms`` (the matching key and its rotation) · ``tables`` · ``lifecycle`` (periods, the
clock) · ``service`` (register, withdraw, match, expire — decided by the policy, ledgered) ·
``webhooks`` (signed push notifications with retries). docs/signals.md is the agency
developer's guide, docs/signals-policy.md the privacy officer's, ADR 0013 the design.
"""
