"""Pure unit tests: models, CRD generation, renderers and conditions. No cluster, no network."""
