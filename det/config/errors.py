"""The exception raised for user mistakes in config files, overrides and lazy calls."""

from det.utils.errors import UserError

__all__ = ["ConfigError"]


class ConfigError(UserError):
    """A config file, override or lazy call is wrong in a way the user can fix.

    The message is one paragraph that names the file, key or value at fault and says what was
    expected, so command-line tools catch this class and print the message without a traceback.
    Errors raised by model code while a config is instantiated are *not* converted to this class:
    they keep their type and traceback, with a note naming the config key being built.
    """


def _one_line(error: BaseException) -> str:
    """The message of ``error`` with its whitespace collapsed, to keep reports one paragraph."""
    return " ".join(str(error).split())
