"""The verified requester: who is asking, taken only from a verified token (DOMAIN rule 2)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.typing import ClientId, Oin


@dataclass(frozen=True)
class Principal:
    client_id: ClientId
    oin: Oin
    org_type: str
    role: str
    user: str
    """A pseudonymous user id chosen by the agency; never a name or an e-mail address."""

    def ledger_view(self) -> dict[str, object]:
        """Who acted, for the sealed ledger body (only the auditor reads it)."""
        return {
            "client_id": self.client_id,
            "oin": self.oin,
            "org_type": self.org_type,
            "role": self.role,
            "user": self.user,
        }

    def policy_view(self) -> dict[str, object]:
        return {
            "verified": True,
            "oin": self.oin,
            "org_type": self.org_type,
            "role": self.role,
            "user": self.user,
        }
