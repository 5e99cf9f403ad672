"""The `authsim` command line: the only package that imports typer.

``authsim`` runs :func:`main`; the Typer application is ``simulator.cli.app.app``.
"""

from simulator.cli.app import main

__all__ = ["main"]
