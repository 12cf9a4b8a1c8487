"""Project errors that mean "the user must act": the command line turns them into exit code 3."""

__all__ = ["NeedsUserAction"]


class NeedsUserAction(RuntimeError):
    """The run cannot go on until the user does what the message says: register for a corpus, fetch a
    file by hand when offline, or point the project at a folder (``--yamnet-dir``, ``SER_YAMNET_DIR``).

    Raise it with a one-line message that names the missing thing and the command or action that fixes it.
    """
