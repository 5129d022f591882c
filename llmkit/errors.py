"""The one exception type for mistakes a user can cause.

The CLI turns a `UserError` into one red line on stderr and its exit status (2; 3 for SourcesLost);
anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input, options or files, explained in one line."""

    exit_code = 2


class Terminated(BaseException):
    """SIGTERM while training (a scheduler preempting the job): handled as Ctrl-C is (a step
    checkpoint is saved for --resume), and the command exits 143, as a terminated process does.
    Not a KeyboardInterrupt, which typer turns into exit 130 on its way out."""


class SourcesLost(UserError):
    """A data stage finished, but a source lost all (or too many) of its records: exit status 3
    (`--allow-empty` accepts it). The output is written; the warnings name each source."""

    exit_code = 3
