"""Purpose-bound information-sharing gateway for Dutch care-and-safety partners."""

__version__ = "0.1.0"
API_VERSION = "1.0.0"
