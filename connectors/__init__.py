"""Source-system connectors: one interface, one module per kind of source.

* :mod:`connectors.interface` — the :class:`Connector` protocol and :class:`ConnectorError`
* :mod:`connectors.sql`       — any SQLAlchemy URL; projects at the source (selects only the
  allowed columns)
* :mod:`connectors.memory`    — an in-memory source for tests, with failure injection
"""
