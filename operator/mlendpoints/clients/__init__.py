"""The only modules that talk to the Kubernetes API (import-linter keeps it that way)."""
