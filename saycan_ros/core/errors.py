"""Errors the core raises for user mistakes; callers turn them into one clear line, never a traceback."""


class SayCanError(Exception):
    """Base of every error that is the user's or the configuration's fault, not a bug."""


class ConfigError(SayCanError):
    """A configuration file or parameter has a missing or invalid value."""


class UnknownSkillError(SayCanError):
    """A skill text, object or location that the kitchen library does not know."""


class InvalidInstructionError(SayCanError):
    """An instruction that cannot be planned: empty, absurdly long, or not text."""


class EmptyInstructionError(InvalidInstructionError):
    """The instruction has no text at all."""
