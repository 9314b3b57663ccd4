"""The board file's one error type. `board/` imports nothing from `hal/`: hal may import board, not the reverse."""


class BoardError(Exception):
    """A board file is invalid. The message names the file and line."""
