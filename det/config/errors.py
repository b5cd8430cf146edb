"""The exception raised for user mistakes in config files, overrides and lazy calls."""

from det.utils.errors import UserError

__all__ = ["ConfigError", "ConfigImportError", "ConfigKeyError"]


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


class ConfigImportError(ConfigError, ImportError):
    """A config file's relative import names a file or value that does not exist.

    Also an ``ImportError``, so code written against detectron2 (``except ImportError``) catches
    it.
    """


class ConfigKeyError(ConfigError, KeyError):
    """An override or ``keys=`` names a config key that does not exist (also a ``KeyError``)."""

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument; keep the readable one-paragraph message.
        return str(self.args[0]) if self.args else ""
