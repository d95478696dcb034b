"""Experiments: races, sweeps, traces."""
