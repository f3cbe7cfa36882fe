"""edgelab: betting and game analytics on a shared FastAPI core."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edgelab")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
