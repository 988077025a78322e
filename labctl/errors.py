"""The few exception types labctl raises; the CLI turns them into messages and exit codes."""
from __future__ import annotations


class LabctlError(Exception):
    """A problem the user can act on. `exit_code` is what the CLI exits with."""

    exit_code = 2


class InputError(LabctlError):
    """Bad input: a topology or scenario file that does not validate.

    Carries one or more located messages ("file:line: key.path: what is wrong; what is valid").
    """

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("\n".join(messages))


class LabError(LabctlError):
    """A lab could not be built, found or changed (not root, a missing program, a name clash)."""


class CommandFailed(LabctlError):
    """A check the user asked for ran and failed (e.g. the demo's all-pairs ping)."""

    exit_code = 1
