"""Authentication: registered agency clients, OAuth2 client credentials, signed access tokens."""
