"""repoqa's service layer: the CLI, configuration, and (later) the gRPC server."""
