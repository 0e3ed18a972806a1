"""Errors that mean the user asked for something wrong (as opposed to a bug).

The CLI prints a ``UserError`` as one line on stderr and exits with code 2.
"""


class UserError(ValueError):
    """A mistake in the user's input: the message names the argument, the bad value and the fix."""
