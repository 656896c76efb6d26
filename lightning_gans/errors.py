"""Errors that the library raises for problems a user can fix.

The CLI prints these as one clear message instead of a stack trace.
"""

from __future__ import annotations


class GANError(RuntimeError):
    """Base class of the errors that name a user-fixable problem and its fix."""


class NonFiniteLossError(GANError):
    """A loss became NaN or infinite; training stops instead of running on NaNs."""


class ConfigurationError(GANError, ValueError):
    """Incompatible settings, e.g. a batch size that ``pack`` does not divide."""


class NonFiniteSamplesError(GANError, ValueError):
    """Generated samples hold NaN or infinite values (the generator diverged); a metric of
    them would be garbage."""
