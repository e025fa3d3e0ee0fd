"""Plugin commands: plugins and check-pattern."""

from __future__ import annotations

import json
import sys

import click

from ganpat.cli import cli, load_registry, make_console


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--all", "show_all", is_flag=True, help="Include ganpat's built-in plugins.")
def plugins_command(as_json: bool, show_all: bool) -> None:
    """List the loaded plugins, their hooks and the names they registered."""
    from ganpat import plugins

    loaded = plugins.load()
    owned = loaded.registry.names_by_plugin()
    rows = []
    for info in loaded.plugins:
        if info.builtin and not show_all:
            continue
        label = info.name if info.builtin else (info.distribution or info.name)
        rows.append({
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "hooks": sorted(set(info.hooks)),
            "registered": owned.get(label, []),
            "builtin": info.builtin,
        })  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No third-party plugins are loaded (use --all to include the built-in ones).")
        return
    from rich.table import Table

    table = Table(title="ganpat plugins")
    for column in ("plugin", "distribution", "version", "hooks", "registered"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["distribution"] or "-", row["version"] or "-",
                      ", ".join(row["hooks"]), ", ".join(row["registered"]))  # fmt: skip
    make_console().print(table)


@cli.command("check-pattern")
@click.argument("name")
def check_pattern_command(name: str) -> None:
    """Check pattern NAME against the pattern contract that plugins must meet.

    Exits with status 1 when a check fails.
    """
    from ganpat.testing import check_pattern

    results = check_pattern(load_registry().pattern(name))
    for result in results:
        click.echo(f"{'PASS' if result.passed else 'FAIL'}  {result.name}: {result.detail}")
    failed = sum(not result.passed for result in results)
    if failed:
        click.echo(f"{name}: {failed} of {len(results)} checks failed", err=True)
        sys.exit(1)
    click.echo(f"{name}: all {len(results)} checks passed")
