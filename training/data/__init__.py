"""Training data: the record format, its validation, loading and collation."""
