"""Hooks: each owns one connection."""
