"""Errors a user can act on.

Every failure that comes from the user's input (a missing file, a video with no
face, a track from another version) is raised as a `DvpError` whose message says
which file, which frame and what to do. The CLI prints the message and exits with
status 2 instead of showing a traceback.
"""


class DvpError(Exception):
    """An error caused by the input, with a message meant for the user."""


class MediaError(DvpError):
    """A video or audio file cannot be read or written as asked."""


class NoFaceError(DvpError):
    """No usable face was found where one is needed."""


class TrackFormatError(DvpError):
    """A track file is missing, corrupt or of an unknown version."""


class BackendUnavailableError(DvpError):
    """An optional backend (landmark detector, rasteriser) cannot be loaded here."""
