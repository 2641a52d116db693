"""Errors a user can cause. The CLI prints their message as one sentence and exits non-zero."""


class UserError(Exception):
    """Bad config, bad arguments or a missing prerequisite: something the user can fix."""

    exit_code = 2


class ConfigError(UserError):
    """The settings file or PIPELINE_* environment does not validate."""
