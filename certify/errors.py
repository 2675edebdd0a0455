"""Every error `certify` raises on purpose, each saying what happened and how to fix it.

All of them derive from `CertifyError`; the command line turns one into a single line on
stderr and exit status 2, before anything is written.
"""

from __future__ import annotations


class CertifyError(Exception):
    """Base class: bad input or usage. `exit_status` is what the CLI returns."""

    exit_status = 2

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(self.line())

    def line(self) -> str:
        """The one-line form printed by the CLI."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class TargetError(CertifyError):
    """The target file cannot be used: missing `f`, bad arity, discontinuity, …"""


class NetworkError(CertifyError):
    """A network file is malformed; the message names grade, layer and entry."""


class UsageError(CertifyError):
    """Arguments that do not make sense together, or out of range."""


class NotExact(CertifyError):
    """Exact rational evaluation was asked of something that has no exact value.

    Raised, for instance, when a transcendental target is evaluated in the rational
    context; callers catch it and fall back to ball arithmetic.
    """
