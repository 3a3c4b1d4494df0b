"""Simulation: the H→ττ generator, systematics, derived features, oracle models."""

__all__: list[str] = []
