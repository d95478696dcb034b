"""Figures and animations (matplotlib)."""
