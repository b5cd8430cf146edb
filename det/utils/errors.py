"""Exception types for mistakes a user can fix (bad config, bad flag, bad file).

Entry points such as ``tools/lazyconfig_train_net.py`` catch :class:`UserError` and print its
message as one paragraph without a traceback; every other exception is a bug and keeps its
traceback. Other packages subclass :class:`UserError` for their own user-facing errors (for
example ``det.checkpoint.CheckpointError``).
"""

__all__ = ["UserError"]


class UserError(Exception):
    """An error caused by user input, with a message that says what is wrong and how to fix it.

    The message should name the offending file, key or value and what was expected, e.g.
    ``Checkpoint 'output/model_0000999.pth' is truncated or corrupt (...)``. It is shown to the
    user verbatim, so it should read as one paragraph.
    """
