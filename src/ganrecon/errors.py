"""One exception type for problems the user can fix; the CLI prints its message as one sentence and exits 2."""


class GanreconError(ValueError):
    """Bad input, a missing file, an unknown spec: anything a user should be told in one sentence."""
