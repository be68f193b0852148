"""Bounds files and their evaluation against records."""
