"""The cross-file graph: references resolved to definitions, kept with the index, queried both ways."""
