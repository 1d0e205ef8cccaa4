"""User-facing errors. Each message says what is wrong and how to fix it."""
from __future__ import annotations


class RobarenaError(Exception):
    """Base class of every error robarena raises on purpose (CLI prints ``ERROR: <message>``)."""

    exit_code = 2


class UsageError(RobarenaError):
    """The user asked for something malformed (bad flag, bad suite file, unknown key)."""


class UnknownComponentError(RobarenaError, KeyError):
    """An id that no installed plugin registers."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class RegistryCollisionError(RobarenaError):
    """Two distributions register the same qualified id."""


class PluginLoadError(RobarenaError):
    """A plugin's entry point or module failed to import."""


class PluginValidationError(RobarenaError):
    """A plugin's hooks or specs break the contract."""


class ConfigError(RobarenaError):
    """A component's parameters do not validate against its config class."""


class ThreatModelViolation(RobarenaError):
    """An attack returned examples outside its threat model or of the wrong shape."""


class CorruptArtifactError(RobarenaError):
    """A cached artifact does not match its recorded hash."""


class DatasetNotFoundError(RobarenaError):
    """A real dataset's files are missing from the given root."""


class DatasetChecksumError(DatasetNotFoundError):
    """A real dataset's file is present but its checksum differs from the official one."""


class UnsafeCheckpointError(RobarenaError):
    """A checkpoint could not be loaded without unpickling arbitrary code."""


class LeaderboardError(RobarenaError):
    """A leaderboard snapshot cannot be built, read or compared."""
