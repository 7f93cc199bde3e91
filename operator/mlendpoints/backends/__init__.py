"""Target-specific reconcilers. ``kubernetes`` realises resources as cluster objects."""
