"""A/B assignment: which arm of the value-score test a caller sees, and the `/markets` body
that carries it.

A client's arm is a pure function of (experiment, subject): the first 8 bytes of
``sha256(experiment + ":" + subject)`` read as a uniform number u in [0, 1); u < split_b is arm
B, else A. Deterministic and sticky with no storage; renaming the experiment
(`EDGELAB_AB_EXPERIMENT`) reshuffles everyone; `EDGELAB_AB_FORCE_ARM` puts everyone in one arm.
The subject is `u:<user id>` for a signed-in caller, else `c:<client id>` from the
`X-Client-ID` header (8-64 of [A-Za-z0-9_-], else 422) or the `edgelab_cid` cookie; a caller
with neither gets a new id in that cookie, so a browser keeps its arm.

The `/markets` cache holds packed bodies (`pack_markets_body`): their first line is the
exposure line `exposures.ExposureBuffer` logs, so a cache hit logs what it showed without
parsing JSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi.exceptions import RequestValidationError

Arm = Literal["a", "b"]

CLIENT_ID_HEADER = "X-Client-ID"
CLIENT_ID_COOKIE = "edgelab_cid"
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)
COOKIE_MAX_AGE_SECONDS = 365 * 86_400
MAX_LOGGED_ROWS = 50  # per request: the first rows of the page
LINE_SEP = b"\t"  # between the slate date and the ids in a packed body's first line


# ---- arms ------------------------------------------------------------------------------------


def arm_of(experiment: str, subject: str, split_b: float) -> Arm:
    """The subject's arm: sha256's first 8 bytes as u in [0, 1); u < split_b is B."""
    digest = hashlib.sha256(f"{experiment}:{subject}".encode()).digest()
    return "b" if int.from_bytes(digest[:8], "big") / 2.0**64 < split_b else "a"


def subject_digest(subject: str) -> str:
    """What the log stores: the subject key hashed (a client id works like a bearer value)."""
    return hashlib.sha256(subject.encode()).hexdigest()


OPENAPI_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": CLIENT_ID_HEADER,
        "in": "header",
        "required": False,
        "description": "Anonymous client id for the A/B arm (signed-in callers: the user id).",
        "schema": {"type": "string", "pattern": CLIENT_ID_PATTERN},
    },
    {
        "name": CLIENT_ID_COOKIE,
        "in": "cookie",
        "required": False,
        "description": "The client id `/markets` sets when neither it nor the header came.",
        "schema": {"type": "string"},
    },
]


def header_client_id(value: str | None) -> str | None:
    """The `X-Client-ID` header, or the same 422 `validation_error` a declared parameter gives."""
    if value is None or _CLIENT_ID.match(value):
        return value
    raise RequestValidationError(
        [
            {
                "type": "string_pattern_mismatch",
                "loc": ("header", CLIENT_ID_HEADER),
                "msg": f"String should match pattern '{CLIENT_ID_PATTERN}'",
                "input": value,
                "ctx": {"pattern": CLIENT_ID_PATTERN},
            }
        ]
    )


@dataclass(frozen=True, slots=True)
class Assignment:
    arm: Arm
    subject: str  # u:<user id> or c:<client id>
    user_id: str | None
    new_client_id: str | None  # made for this request: set it as the cookie
    logged: bool  # False on a first request without identity


def assign(
    *,
    experiment: str,
    split_b: float,
    force_arm: Arm | None,
    user_id: str | None,
    header_client_id: str | None,
    cookie_client_id: str | None,
) -> Assignment:
    """The caller's arm. The header is validated by the route (422); a malformed cookie is
    treated as absent and replaced, since a browser cannot be asked to fix it."""
    new_id = None
    if user_id is not None:
        subject = f"u:{user_id}"
    elif header_client_id is not None:
        subject = f"c:{header_client_id}"
    elif cookie_client_id is not None and _CLIENT_ID.match(cookie_client_id):
        subject = f"c:{cookie_client_id}"
    else:
        new_id = secrets.token_urlsafe(16)  # 22 characters of [A-Za-z0-9_-]
        subject = f"c:{new_id}"
    arm = force_arm or arm_of(experiment, subject, split_b)
    return Assignment(arm, subject, user_id, new_id, logged=new_id is None)


def client_id_cookie(client_id: str, *, secure: bool) -> tuple[bytes, bytes]:
    """The `Set-Cookie` header for a client id (our own ids: [A-Za-z0-9_-], nothing to quote)."""
    value = (
        f"{CLIENT_ID_COOKIE}={client_id}; Max-Age={COOKIE_MAX_AGE_SECONDS}; Path=/; HttpOnly; "
        f"SameSite=Lax{'; Secure' if secure else ''}"
    )
    return b"set-cookie", value.encode("latin-1")


# ---- packed /markets bodies --------------------------------------------------------------------


def pack_markets_body(slate_date: dt.date | None, market_ids: Sequence[str], body: bytes) -> bytes:
    """What the `/markets` cache holds: a first line with the slate date and the page's first
    market ids (so every request, cache hits included, can log its exposures without parsing
    JSON), then the JSON body without its closing brace (`finish_markets_body` adds the
    caller's arm)."""
    ids = LINE_SEP.join(i.encode() for i in market_ids[:MAX_LOGGED_ROWS])
    date = slate_date.isoformat().encode() if slate_date else b"-"
    assert body.endswith(b"}")
    return b"".join((date, LINE_SEP, ids, b"\n", body[:-1]))


_SUFFIXES: dict[tuple[str, str], bytes] = {}


def finish_markets_body(packed: bytes, arm: Arm, experiment: str) -> tuple[bytes, bytes]:
    """(the response body with `arm` and `experiment` added, the exposure line): one copy."""
    suffix = _SUFFIXES.get((arm, experiment))
    if suffix is None:
        extra = f',"arm":"{arm}","experiment":{json.dumps(experiment)}}}'
        suffix = _SUFFIXES[(arm, experiment)] = extra.encode()
    nl = packed.index(b"\n")
    return b"".join((memoryview(packed)[nl + 1 :], suffix)), packed[:nl]
