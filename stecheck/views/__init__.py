"""Views of records: figures and the one-page report (they read records, never recompute)."""
