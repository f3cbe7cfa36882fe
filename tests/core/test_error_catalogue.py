"""The error-code catalogue: every `error.code` is registered once, raised by its constant with
its catalogue status, listed in the README, and what the app really answers.

The source is read as text (AST) for the raise sites; the catalogue is read after importing
every module of `edgelab`, since each product registers its codes in its own module.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

import edgelab
from edgelab.accounts.service import create_user
from edgelab.core.auth import issue_access_token
from edgelab.core.error_codes import CATALOGUE, ErrorCode, error_code, error_table_markdown
from edgelab.core.errors import AppError
from edgelab.core.http.upstream import upstream_status
from edgelab.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "edgelab"
README = ROOT / "README.md"
SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# callee name -> index of its positional error-code argument
CODE_POSITION = {"envelope": 2, "service_error": 0, "upstream_failure": 1, "upstream_error": 1}


@cache
def all_modules() -> dict[str, ModuleType]:
    """Every module of edgelab, imported: the catalogue then holds every product's codes."""
    names = [info.name for info in pkgutil.walk_packages(edgelab.__path__, "edgelab.")]
    return {name: importlib.import_module(name) for name in ["edgelab", *names]}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def code_arguments(call: ast.Call) -> list[ast.expr]:
    """The expressions a call passes as an error code: `code=...`, or the code position of
    `envelope`, `service_error`, `upstream_failure` and `upstream_error`."""
    found = [k.value for k in call.keywords if k.arg == "code"]
    position = CODE_POSITION.get(callee(call))
    if position is not None and len(call.args) > position:
        found.append(call.args[position])
    return found


def literals(expr: ast.expr, *, fstrings: bool = True) -> list[ast.expr]:
    """String literals in the value positions of `expr` (itself, either branch of a
    conditional, either side of `or`): what would be used as a code."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return [expr]
    if isinstance(expr, ast.JoinedStr):
        return [expr] if fstrings else []
    if isinstance(expr, ast.IfExp):
        return literals(expr.body, fstrings=fstrings) + literals(expr.orelse, fstrings=fstrings)
    if isinstance(expr, ast.BoolOp):
        return [lit for value in expr.values for lit in literals(value, fstrings=fstrings)]
    return []


def inline_codes(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, source) of every error code written as a string where it is raised or defined:
    a code argument (f-strings included), a class attribute `code = "..."`, or a local
    `code = "..."` passed on later. `http_<status>` (an f-string in a function, the fallback
    for a status without a code) is the one uncatalogued family."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for arg in code_arguments(node):
                found += literals(arg)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "code" for t in targets):
                found += literals(node.value, fstrings=False)
    return sorted((lit.lineno, ast.unparse(lit)) for lit in found)


def test_the_scan_finds_inline_codes() -> None:
    snippet = ast.parse(
        "class GoneError(AppError):\n"
        "    code = 'gone'\n"
        "def f(x):\n"
        "    raise NotFoundError('No market.', code='market_not_found')\n"
        "def g(r, state):\n"
        "    code = 'a' if state else 'b'\n"
        "    upstream_error('svc', 'upstream_unavailable', 'down')\n"
        "    raise ConflictError('No.', code=f'intervention_{state}')\n"
        "    return envelope(r, 503, 'database_unavailable', 'down')\n"
        "def h(item):\n"
        "    code = item.home if item.side == 'home' else item.away\n"  # a comparison: fine
        "    raise NotFoundError('No market.', code=errors.MARKET_NOT_FOUND)\n"
    )
    assert [line for line, _ in inline_codes(snippet)] == [2, 4, 6, 6, 7, 8, 9]


def test_no_error_code_is_an_inline_string_in_src() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path, tree in sources()
        for line, text in inline_codes(tree)
    ]
    assert offenders == [], "raise these by their catalogue constant:\n" + "\n".join(offenders)


def registrations() -> list[tuple[str, str]]:
    """(module, code) of every `error_code("...", ...)` call in src."""
    return [
        (module_name(path), node.args[0].value)
        for path, tree in sources()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and callee(node) == "error_code"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


def test_every_code_is_registered_once_snake_case_with_an_error_status() -> None:
    all_modules()
    sites = registrations()
    twice = sorted(code for code, n in Counter(code for _, code in sites).items() if n > 1)
    assert twice == [], f"registered in more than one place: {twice}"
    assert sorted(code for _, code in sites) == list(CATALOGUE)  # and nothing else registers
    assert len(CATALOGUE) >= 80
    for code, entry in CATALOGUE.items():
        assert entry.code == code and SNAKE_CASE.fullmatch(code), code
        assert 400 <= entry.status <= 599, code
        assert entry.meaning.strip() and "\n" not in entry.meaning, code
    products = {module.split(".")[1] for module, _ in sites}
    assert products == {"core", "accounts", "sentinel", "betting", "predictions", "chess", "web"}


def test_the_catalogue_is_sorted_and_read_only() -> None:
    all_modules()
    assert list(CATALOGUE) == sorted(CATALOGUE)
    assert not hasattr(CATALOGUE, "__setitem__") and not hasattr(CATALOGUE, "pop")


def test_a_second_registration_must_agree() -> None:
    known = CATALOGUE["not_found"]
    assert error_code(known.code, known.status, known.meaning) is known
    with pytest.raises(ValueError, match="registered twice"):
        error_code(known.code, 410, known.meaning)
    with pytest.raises(ValueError, match="registered twice"):
        error_code(known.code, known.status, "Something else.")
    with pytest.raises(ValueError, match="snake_case"):
        error_code("Not-Found", 404, "x")
    with pytest.raises(ValueError, match="error status"):
        error_code("fine_here", 302, "x")
    assert CATALOGUE["not_found"] is known and "fine_here" not in CATALOGUE


def _evaluate(node: ast.expr, module: ModuleType) -> Any:
    try:
        return eval(compile(ast.Expression(node), "<raise site>", "eval"), vars(module))
    except NameError:  # a local (e.g. a status picked from a table): checked where it is built
        return None


def test_each_raise_site_agrees_with_the_catalogue_status() -> None:
    """The exception class raised with a code answers the code's status (NotFoundError with a
    404 code, never a 409 one), and the upstream helpers' codes follow their rule: 503 for
    `*_rate_limited` and `*_unavailable`, 502 otherwise."""
    modules = all_modules()
    checked, wrong = 0, []
    for path, tree in sources():
        module = modules[module_name(path)]
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for arg in code_arguments(node):
                code = _evaluate(arg, module)
                if not isinstance(code, ErrorCode):
                    continue
                checked += 1
                assert CATALOGUE[code.code] is code
                raised = _evaluate(node.func, module)
                if isinstance(raised, type) and issubclass(raised, AppError):
                    expected = raised.status_code
                elif callee(node) in CODE_POSITION and callee(node) != "envelope":
                    expected = upstream_status(code.code)
                else:
                    continue
                if code.status != expected:
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {code}")
    assert checked >= 100
    assert wrong == []


def test_every_error_class_declares_its_catalogue_status() -> None:
    all_modules()
    classes, stack = [], [AppError]
    while stack:
        cls = stack.pop()
        classes.append(cls)
        stack.extend(cls.__subclasses__())
    for cls in classes:
        if isinstance(cls.code, ErrorCode) and cls.__module__.startswith("edgelab."):
            assert cls.status_code == CATALOGUE[cls.code.code].status, cls
    with pytest.raises(TypeError, match="catalogue"):
        type("WrongStatusError", (AppError,), {"status_code": 409, "code": CATALOGUE["not_found"]})


def test_an_error_renders_its_code_string_and_status() -> None:
    error = AppError("Gone.", code=CATALOGUE["download_link_expired"])
    assert (error.code, error.status_code) == ("download_link_expired", 410)
    plain = AppError("Free text.", code="made_up_in_a_test")
    assert (plain.code, plain.status_code) == ("made_up_in_a_test", 400)


def readme_error_table() -> str:
    text = README.read_text(encoding="utf-8")
    sections = re.split(r"(?m)^## ", text)
    titles = [s.split("\n", 1)[0].strip() for s in sections]
    assert "Error codes" in titles, "README.md has no '## Error codes' section"
    at = titles.index("Error codes")
    assert titles[at - 1] == "API at a glance", "'## Error codes' comes after 'API at a glance'"
    rows = [line for line in sections[at].splitlines() if line.startswith("|")]
    return "\n".join(rows) + "\n"


def test_the_readme_error_table_is_the_catalogue() -> None:
    all_modules()
    expected = error_table_markdown()
    assert readme_error_table() == expected, (
        "README.md's '## Error codes' table differs from the catalogue; paste this:\n" + expected
    )
    rows = expected.splitlines()[2:]
    assert len(rows) == len(CATALOGUE)
    for row, entry in zip(rows, CATALOGUE.values(), strict=True):
        assert row.startswith(f"| `{entry.code}` | {entry.status} | ")


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/bet/no-such-market", "market_not_found"),
        ("GET", "/no/such/route", "not_found"),
        ("DELETE", "/markets", "method_not_allowed"),
        ("GET", "/markets?limit=0", "validation_error"),
        ("GET", "/me/bets", "unauthorized"),
        ("GET", "/me/bets", "invalid_token"),
    ],
)
async def test_a_failing_request_answers_a_catalogued_code_with_its_status(
    client: httpx.AsyncClient, method: str, path: str, code: str
) -> None:
    all_modules()
    headers = {"Authorization": "Bearer not-a-token"} if code == "invalid_token" else {}
    r = await client.request(method, path, headers=headers)
    answered = r.json()["error"]["code"]
    assert answered == code
    assert answered in CATALOGUE and r.status_code == CATALOGUE[answered].status


async def test_an_unknown_bet_answers_its_catalogued_code(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await create_user(session, "catalogue@errors.test")
    await session.commit()
    token = issue_access_token(settings, user.id)
    r = await client.get("/me/bets/bet_nope", headers={"Authorization": f"Bearer {token}"})
    assert r.json()["error"]["code"] == "bet_not_found"
    assert r.status_code == CATALOGUE["bet_not_found"].status == 404
