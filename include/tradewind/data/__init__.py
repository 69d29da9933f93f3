"""Data: dataset specs, the synthetic source, ingestion and the shared features."""
