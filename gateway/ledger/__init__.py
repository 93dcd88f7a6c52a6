"""The encrypted, tamper-evident access ledger (format: docs/ledger-format.md)."""
