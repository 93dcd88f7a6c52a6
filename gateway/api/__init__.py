"""The HTTP API (FastAPI): sharing endpoints, case management, OAuth2 token endpoint."""
