"""The model declaration: parameters of interest, nuisances, processes, regions."""

from unbinned.model.spec import POI, ModelSpec, Modifier, Nuisance, Process, Region

__all__ = ["POI", "ModelSpec", "Modifier", "Nuisance", "Process", "Region"]
