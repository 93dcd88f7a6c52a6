"""The auditor's read side: works with the auditor's private key, never used by the serving
path (nothing under gateway/ that serves requests imports this package)."""
