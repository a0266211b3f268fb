"""One exception type for problems the user can fix; scripts print it as one line and exit non-zero."""


class DenoiserError(Exception):
    """Bad input, a missing file, a model that does not fit its features: anything a user can act on.

    `code` is the exit status the scripts use (1, or 130 for an interruption)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code
