"""Runtime utilities: distributed helpers, event storage and writers, logging, environment.

Kept light on purpose: import the submodules (``det.utils.comm``, ``det.utils.events``,
``det.utils.logger``, ``det.utils.env``, ``det.utils.file_io``, ``det.utils.errors``) directly.
"""

__all__: list[str] = []
