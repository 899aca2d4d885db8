"""The one exception type the library raises for bad input; the CLI prints it as one line."""


class FastrnnError(Exception):
    """A user-facing error: bad input, bad file, bad option. Its message is one line."""
