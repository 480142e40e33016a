"""SQL: parser adapter over pglast, planner, executor, catalog, sessions."""

__all__: list[str] = []
