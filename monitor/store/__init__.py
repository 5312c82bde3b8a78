"""Storage: tables, the batched writer, repositories and migrations (SQLAlchemy 2)."""
