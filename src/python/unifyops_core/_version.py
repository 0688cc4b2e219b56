"""The one version source of unifyops_core (semver); packaging, logs and images read it here."""

__version__ = "0.1.15"
