"""Secrets that travel in request URLs, masked in the log lines that print those URLs.

Some APIs take their key only in the query string (`?apiKey=...`). httpx logs every request
URL, and so does the retry loop (`edgelab.http`), so a filter on those loggers rewrites the
value to `***` before any handler sees the record; headers are never logged, so keys sent
there need nothing.
"""

from __future__ import annotations

import logging
import re

URL_LOGGERS = ("httpx", "edgelab.http")  # the loggers that print request URLs


class QueryParamMask(logging.Filter):
    """Masks `<param>=<value>` (any case) in the records a logger lets through."""

    def __init__(self, param: str) -> None:
        super().__init__()
        self.param = param
        self._needle = f"{param.lower()}="
        self._pattern = re.compile(rf"({re.escape(param)}=)[^&\s\"'#]+", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the handler's business, not a reason to raise
            return True
        if self._needle in message.lower():
            record.msg, record.args = self._pattern.sub(r"\1***", message), None
        return True


def mask_query_param(param: str, *loggers: str) -> None:
    """Mask `param` in the URL loggers and in `loggers`; calling it again adds nothing."""
    for name in (*URL_LOGGERS, *loggers):
        logger = logging.getLogger(name)
        if not any(isinstance(f, QueryParamMask) and f.param == param for f in logger.filters):
            logger.addFilter(QueryParamMask(param))
