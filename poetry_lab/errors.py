"""The one exception type for errors a user can cause (bad file, too little text, bad settings)."""


class PoetryLabError(Exception):
    """A problem the user can fix. The message is shown as is: plain words, no jargon, no traceback."""
