"""The `ganpat` subcommands, one module per group; importing a module registers its commands."""
