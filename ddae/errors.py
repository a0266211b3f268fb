"""One exception type for problems the user can fix; scripts print it as one line and exit non-zero."""


class DenoiserError(Exception):
    """Bad input, a missing file, a model that does not fit its features: anything a user can act on."""
