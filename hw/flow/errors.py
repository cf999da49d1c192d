"""The flow's one error type."""


class BuildError(RuntimeError):
    """A step failed: the message names the step's problem and where its log is."""
