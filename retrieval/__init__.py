"""repoqa's retrieval: lexical, dense, symbol and graph search, fusion, bundles."""
