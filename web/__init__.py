"""Cauce's web layer: Flask blueprints and CLI commands, thin callers of the engine."""

from __future__ import annotations

from flask import Flask, current_app

from engine import Engine


def engine() -> Engine:
    """Return the engine of the running application."""
    return current_app.extensions["cauce"]  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    """Register the CLI commands and blueprints on ``app``."""
    from . import cli

    cli.init_app(app)
