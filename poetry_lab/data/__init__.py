"""Where text comes from: reading a poet's files, and the catalog of bundled corpora."""
