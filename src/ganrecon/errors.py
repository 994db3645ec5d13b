"""Exception types for what the user should be told in one sentence; the CLI prints the message and exits 2, or
130 for a stop the user asked for."""


class GanreconError(ValueError):
    """Bad input, a missing file, an unknown spec: anything a user should be told in one sentence."""


class Stopped(GanreconError):
    """Work the user stopped (Ctrl-C, SIGTERM) after it saved what it could: not an error, so the CLI says
    `stopped:` and exits 130, as an interrupted command does."""
