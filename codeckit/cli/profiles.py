"""`codeckit profiles`: the shipped profiles, or every field of one (a name or a TOML file)."""
from __future__ import annotations

import click
from rich.table import Table

from ..profiles import OTHER_SECTIONS, describe_target, field_docs, find_profile, load_profile, profile_names
from . import cli
from .common import console, print_json


@cli.command("profiles")
@click.argument("name", required=False, metavar="[NAME|FILE]")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Show the profile with these overrides.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def profiles_cmd(name: str | None, sets: tuple[str, ...], as_json: bool) -> int:
    """List the profiles, or show (and check) one: every field with its value.

    A profile with a mistake is reported with the file, the field and the allowed values.
    """
    if name is None:
        rows = []
        for n in profile_names():
            t = load_profile(n)
            rows.append({"name": n, "codec": t.video.codec, "container": t.container,
                         "description": t.description, "file": str(find_profile(n))})
        if as_json:
            print_json({"profiles": rows})
            return 0
        table = Table(title="Profiles", title_justify="left", header_style="bold")
        for col in ("name", "codec", "container", "description"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["name"], r["codec"], r["container"], r["description"])
        console.print(table)
        console.print("[dim]codeckit profiles NAME shows every field; codeckit transcode --profile NAME|FILE "
                      "--set key=value overrides one[/]", highlight=False)
        return 0
    target = load_profile(name, sets)
    fields = describe_target(target)
    if as_json:
        print_json({"name": target.name, "file": target.source, "fingerprint": target.fingerprint(),
                    "fields": fields})
        return 0
    table = Table(title=f"{target.name} ({target.source})", title_justify="left", header_style="bold")
    table.add_column("field")
    table.add_column("value")
    table.add_column("about", style="dim")
    docs = field_docs()
    for key, value in fields.items():
        shown = "-" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        table.add_row(key, shown, docs[key])
    console.print(table)
    if target.other_sections:
        readers = sorted({OTHER_SECTIONS[s] for s in target.other_sections})
        console.print(f"also in the file: {', '.join(f'[{s}]' for s in target.other_sections)} "
                      f"(read by {', '.join(readers)})", highlight=False, markup=False, emoji=False, style="dim")
    return 0
