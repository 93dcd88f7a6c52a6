def span(
    path: str,
    first: int,
    last: int,
    actions: tuple[str, ...],
    outcomes: tuple[str, ...],
    body_keys: tuple[str, ...],
    version: int,
) -> tuple[int, int | None, str, int, str, list[tuple[int, str, str]]] | None: ...
