"""``skugraph keys``: create, list and revoke the API keys of ``skugraph serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from skugraph.cli.common import DEFAULT_DB, DbOption, console, errors, friendly_errors, print_json

KeysOption = Annotated[Path | None, typer.Option("--keys", help="API keys file (default: beside the graph, <db>.keys.json).")]

keys_app = typer.Typer(help="API keys for `skugraph serve`: a read role and a write role; stored hashed, shown once.",
                       no_args_is_help=True)


def keys_file(keys: Path | None, db: Path) -> Path:
    """The keys file ``--keys`` names, else the one beside the graph."""
    from skugraph.serve.keys import default_keys_file

    return keys if keys is not None else default_keys_file(db)


@keys_app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="Who or what the key is for (shown by `keys list`).")],
    role: Annotated[str, typer.Option("--role", help="read (the reading endpoints) or write (every endpoint).")] = "read",
    keys: KeysOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Make a key and print it once: it is stored only as a digest and cannot be shown again."""
    from skugraph.serve.keys import KeyStore

    with friendly_errors():
        path = keys_file(keys, db)
        record, key = KeyStore(path).create(name, role)
    print(key)
    errors.print(f"[dim]{record.id} ({record.role}) added to {path}; the key is not stored, keep it now[/]", highlight=False)


@keys_app.command("list")
def list_keys(keys: KeysOption = None, db: DbOption = DEFAULT_DB,
              json_: Annotated[bool, typer.Option("--json", help="One JSON line.")] = False) -> None:
    """Every key: id, name, role, when created and when revoked (never the key)."""
    from skugraph.serve.keys import KeyStore

    with friendly_errors():
        path = keys_file(keys, db)
        records = [record.public() for record in KeyStore(path).records()]
    if json_:
        print_json(records)
        return
    if not records:
        console.print(f"no keys in {path}: the API is open, to this machine only", highlight=False)
        return
    table = Table()
    for column in ("id", "name", "role", "created", "revoked"):
        table.add_column(column)
    for record in records:
        table.add_row(*(record[column] or "" for column in ("id", "name", "role", "created", "revoked")))
    console.print(table)


@keys_app.command()
def revoke(key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id, as `keys list` shows it.")],
           keys: KeysOption = None, db: DbOption = DEFAULT_DB) -> None:
    """Revoke a key: a running server refuses it from its next request (the record is kept)."""
    from skugraph.serve.keys import KeyStore

    with friendly_errors():
        record = KeyStore(keys_file(keys, db)).revoke(key_id)
    console.print(f"{record.id} ({record.name}) revoked at {record.revoked}", highlight=False)
