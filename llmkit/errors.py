"""The one exception type for mistakes a user can cause.

The CLI turns a `UserError` into one red line on stderr and exit status 2; anything else is a bug
and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input, options or files, explained in one line."""
