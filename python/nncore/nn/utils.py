"""Gradient utilities."""
