"""repoqa's public API, generated from the .proto files beside it (scripts/protos)."""
