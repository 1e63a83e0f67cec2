"""The tables modes declare (`arena.engine.mode.Tables`), for the stores.

A mode that keeps tables of its own declares their migrations, the
statements its record operations become, its queries and what to refresh,
per store dialect ("sqlite", "postgres"); the stores apply them through
these functions and hold no statement of any game. Mode migrations are
recorded per mode in `mode_migrations` (schema version 3), so a mode's
versions grow independently of the framework's and of other modes'.
"""

from __future__ import annotations

from arena.engine.registry import registry


def _with_tables():
    return [(name, mode.tables) for name, mode in registry.modes().items() if mode.tables is not None]


def pending_migrations(dialect: str, have: set) -> list[tuple[str, int, tuple]]:
    """(mode, version, statements) not in `have` ({(mode, version)}), in order."""
    out = []
    for name, tables in _with_tables():
        for version, statements in tables.migrations.get(dialect, ()):
            if (name, version) not in have:
                out.append((name, version, tuple(statements)))
    return out


def statements(dialect: str, op: tuple) -> list[tuple[str, tuple]]:
    """The (sql, parameters) of a ("mode_op", mode, operation) record."""
    _, name, inner = op
    mode = registry.get(name)
    if mode is None or mode.tables is None:
        raise ValueError(f"record of mode {name!r}, which has no tables here")
    return mode.tables.statements(dialect, inner)


def query_sql(dialect: str, name: str) -> str | None:
    for _mode, tables in _with_tables():
        found = tables.queries.get(name)
        if found is not None and dialect in found:
            return found[dialect]
    return None


def refresh_statements(dialect: str) -> list[str]:
    return [sql for _, tables in _with_tables() for sql in tables.refresh.get(dialect, ())]


def memory_apply(store_tables: dict, op: tuple) -> None:
    _, name, inner = op
    mode = registry.get(name)
    if mode is None or mode.tables is None or mode.tables.memory_apply is None:
        raise ValueError(f"record of mode {name!r}, which has no tables here")
    mode.tables.memory_apply(store_tables.setdefault(name, {}), inner)


def memory_query(store_tables: dict, name: str, params: tuple = ()) -> list[dict] | None:
    """A mode's query over the memory store's dicts; `params` (the SQL
    query's positional parameters) are passed on only when there are any."""
    for mode_name, tables in _with_tables():
        if name in tables.queries and tables.memory_query is not None:
            if params:
                return tables.memory_query(store_tables.get(mode_name, {}), name, *params)
            return tables.memory_query(store_tables.get(mode_name, {}), name)
    return None


def history_sql(dialect: str, mode: str) -> str | None:
    """The SELECT of mode `mode`'s history detail rows (`Tables.history_details`)."""
    found = registry.get(mode)
    tables = found.tables if found is not None else None
    return tables.history_details.get(dialect) if tables is not None else None


def memory_history_details(store_tables: dict, mode: str, matches: list[str]) -> list[dict]:
    found = registry.get(mode)
    tables = found.tables if found is not None else None
    if tables is None or tables.memory_history_details is None:
        return []
    return tables.memory_history_details(store_tables.get(mode, {}), matches)
