"""repoqa's indexer: scan, parse, chunk and store a repository, incrementally."""
