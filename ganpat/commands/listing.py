"""Listing commands: list-patterns, list-architectures and list-plotters."""

from __future__ import annotations

import json

import click

from ganpat.cli import cli, load_registry, make_console, plugin_label


@cli.command("list-patterns")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_patterns(as_json: bool) -> None:
    """List the patterns that can be trained."""
    registry = load_registry()
    rows = []
    for name, entry in registry.patterns.items():
        pattern = entry.item
        rows.append({
            "name": name,
            "description": pattern.description,
            "sample_shape": list(pattern.sample_shape),
            "default_architecture": pattern.default_recipe.architecture,
            "recipes": sorted(pattern.recipes),
            "plugin": entry.plugin,
        })  # fmt: skip
    for entry in registry.families.values():
        family = entry.item
        rows.append({
            "name": family.display_name,
            "description": family.description,
            "sample_shape": list(family.sample_shape),
            "default_architecture": family.default_architecture,
            "recipes": sorted(family.recipe_names),
            "plugin": entry.plugin,
            "parameter": family.parameter.upper(),
            "values": [family.values.start, family.values.stop - 1],
        })  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="ganpat patterns")
    table.add_column("name", no_wrap=True)
    for column in ("description", "sample shape", "default architecture", "plugin"):
        table.add_column(column)
    for row in rows:
        name = row["name"]
        if "parameter" in row:
            name += f"\n({row['parameter']} = {row['values'][0]}..{row['values'][1]})"
        shape = "(" + ", ".join(str(d) for d in row["sample_shape"]) + ",)"
        table.add_row(name, row["description"], shape, row["default_architecture"], plugin_label(row["plugin"]))
    make_console().print(table)


@cli.command("list-architectures")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_architectures(as_json: bool) -> None:
    """List the generator/discriminator architectures."""
    registry = load_registry()
    rows = [
        {"name": name, "description": entry.item.description, "plugin": entry.plugin}
        for name, entry in registry.architectures.items()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="ganpat architectures")
    for column in ("name", "description", "plugin"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["description"], plugin_label(row["plugin"]))
    make_console().print(table)


@cli.command("list-plotters")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_plotters(as_json: bool) -> None:
    """List the plotters that `ganpat plot` can use."""
    registry = load_registry()
    rows = [
        {"name": name, "description": entry.item.description, "source": entry.item.source, "plugin": entry.plugin}
        for name, entry in registry.plotters.items()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="ganpat plotters")
    for column in ("name", "description", "draws", "plugin"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["description"], row["source"], plugin_label(row["plugin"]))
    make_console().print(table)
