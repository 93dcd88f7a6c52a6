"""The case registry: cases, their participants, linked subjects and recorded consents."""
