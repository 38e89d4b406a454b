"""The house rules that a reading of the source can check: SQL only in the listed stores, and
every reason code of an error answer registered, with the status of the type raised with it."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilotshare.core import errors
from pilotshare.core.contract import payloads

SRC = Path(__file__).resolve().parents[2] / "src" / "pilotshare"

#: The only modules that may run SQL, each with why it is a store; every other module under
#: ``src/pilotshare`` calls their functions. A directory (``…/``) admits every module in it.
STORES: dict[str, str] = {
    "registry/store.py": "organisations, sites, the catalogue, qualifications, API keys",
    "registry/platforms.py": "platforms' profiles and service items",
    "network/store.py": "the public directory: only what platforms mark public",
    "scheduler/store/": "bookings, closures, quotas and the lifecycle's set-based updates",
    "scheduler/forecast/store.py": "the forecast's snapshot and the risk watch's trigger",
    "scheduler/feeds.py": "calendar feeds: their tokens and what a feed shows",
    "billing/store.py": "what a statement bills, vouchers and their audit lines",
    "network/requests/store.py": "requests (中试需求), their offers and their history",
    "twin/store.py": "the twin read back: intervals, learned behaviour, live rows, rejects",
    "twin/rows.py": "samples as rows: COPY, the idempotent staging path, the hourly rollup",
    "twin/writer.py": "one transaction per flush: samples, live rows, rejects, NOTIFY",
    "twin/history.py": "telemetry history in buckets",
    "twin/series.py": "metric series in buckets, from the hourly metric rollup or raw samples",
    "seeding/store.py": "the demo's past bookings, stored settled as the lifecycle leaves them",
    "network/statistics/store.py": "the open statistics: platforms' instruments, bookings, offers",
    "core/jobs.py": "the job queue on the jobs table",
    "core/audit.py": "the audit log: one line per change, written in the change's transaction",
    "core/db/": "the pool, migrations, TimescaleDB policies, the LISTEN loop",
    "core/embedded.py": "creating the embedded server's database",
    "edge_agent/outbox.py": "the agent's SQLite outbox",
    "edge_agent/interlock.py": "the agent's last applied interlock command, beside the outbox",
}


def _is_store(where: str) -> bool:
    return any(where == s or (s.endswith("/") and where.startswith(s)) for s in STORES)


MODULES: tuple[Path, ...] = tuple(sorted(SRC.rglob("*.py")))
NOT_STORES = tuple(p for p in MODULES if not _is_store(str(p.relative_to(SRC))))

#: What runs a statement on an asyncpg connection or pool.
_RUNS_SQL = re.compile(r"^(fetch|fetchrow|fetchval|execute|executemany|copy_\w+)$")
#: A string that reads as a statement.
_SQL = re.compile(
    r"\bSELECT\b.+\bFROM\b|\bINSERT\s+INTO\b|\bDELETE\s+FROM\b|\bUPDATE\s+\w+\s+SET\b", re.DOTALL
)


def _sql_in(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    where = path.name if not path.is_relative_to(SRC) else path.relative_to(SRC)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Await)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and _RUNS_SQL.match(node.value.func.attr)
        ):
            yield f"{where}:{node.lineno}: awaits .{node.value.func.attr}(…)"
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _SQL.search(node.value)
        ):
            yield f"{where}:{node.lineno}: a SQL string"


@pytest.mark.parametrize("path", NOT_STORES, ids=lambda p: str(p.relative_to(SRC)))
def test_sql_lives_in_store_modules(path: Path) -> None:
    assert list(_sql_in(path)) == []


def test_every_store_listed_holds_sql() -> None:
    def sql_under(store: str) -> bool:
        return any(
            list(_sql_in(p))
            for p in MODULES
            if (rel := str(p.relative_to(SRC))) == store
            or (store.endswith("/") and rel.startswith(store))
        )

    assert [s for s in STORES if not sql_under(s)] == []


def test_the_sql_check_sees_sql(tmp_path: Path) -> None:
    sample = tmp_path / "route.py"
    sample.write_text('async def f(pool):\n    await pool.fetch("SELECT 1 FROM t")\n')
    assert len(list(_sql_in(sample))) == 2


# --- reason codes -------------------------------------------------------------------------

_STATUS = {
    cls.__name__: cls.status
    for cls in (
        errors.BadInput,
        errors.Unauthorized,
        errors.Forbidden,
        errors.NotFound,
        errors.Conflict,
        errors.Unsupported,
        errors.TooManyRequests,
    )
}


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def _coded_calls(node: ast.AST) -> Iterator[tuple[ast.Call, str]]:
    """Calls under ``node`` whose first argument is a string literal, with it."""
    for call in ast.walk(node):
        if isinstance(call, ast.Call) and call.args:
            first = call.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield call, first.value


def _raised() -> Iterator[tuple[str, str, int]]:
    """``(where, code, status)`` of every refusal built with a literal code."""
    for path, tree in _modules():
        where = path.relative_to(SRC)
        for call, code in _coded_calls(tree):
            if isinstance(call.func, ast.Name) and call.func.id in _STATUS:
                yield f"{where}:{call.lineno}", code, _STATUS[call.func.id]
        for cls in ast.walk(tree):  # a subclass (``NotQualified(Forbidden)``) fixes its code
            if not isinstance(cls, ast.ClassDef):
                continue
            bases = [b.id for b in cls.bases if isinstance(b, ast.Name) and b.id in _STATUS]
            for call, code in _coded_calls(cls) if bases else ():
                if isinstance(call.func, ast.Attribute) and call.func.attr == "__init__":
                    yield f"{where}:{call.lineno}", code, _STATUS[bases[0]]


def _is_contract(where: str) -> bool:
    return where.startswith("core/contract/")


def test_every_code_raised_is_registered_with_the_status_of_its_type() -> None:
    wrong = []
    for where, code, status in _raised():
        if _is_contract(where):  # telemetry rejects: their own table
            if code not in payloads.REASONS:
                wrong.append(f"{where}: {code!r} is not in core.contract.payloads.REASONS")
        elif code not in errors.BY_CODE:
            wrong.append(f"{where}: {code!r} is not in core.errors.REASONS")
        elif errors.BY_CODE[code].status != status:
            wrong.append(
                f"{where}: {code!r} raised as {status}, registered as {errors.BY_CODE[code].status}"
            )
    assert wrong == []


def test_every_registered_code_is_used() -> None:
    used = {
        node.value
        for path, tree in _modules()
        if path != SRC / "core" / "errors.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    assert [r.code for r in errors.REASONS if r.code not in used] == []


def test_the_registry_has_one_entry_per_code() -> None:
    codes = [r.code for r in errors.REASONS]
    assert len(codes) == len(set(codes))
    assert all(400 <= r.status < 600 and r.meaning for r in errors.REASONS)


def _table() -> str:
    rows = [f"| `{r.code}` | {r.status} | {r.meaning} |" for r in errors.REASONS]
    return "\n".join(["| reason | status | meaning |", "|---|---|---|", *rows])


def test_docs_list_the_registry() -> None:
    docs = (SRC.parent.parent / "docs" / "api.md").read_text()
    assert _table() in docs, "regenerate the reason table of docs/api.md:\n" + _table()
