"""How stage code tells the runtime what kind of failure it hit."""


class TransientError(Exception):
    """Worth retrying in place (a timeout, a dependency restarting); the message is not at fault."""


class SinkUnavailable(TransientError):
    """The sink cannot take writes now; the runtime pauses intake and retries the same batch."""


class StageHalted(Exception):
    """The stage stopped itself (e.g. nearly every message fails: a misconfiguration)."""
