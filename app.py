"""Cauce's Flask entry point: ``create_app()`` builds the engine and wires the web layer."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from engine import Engine, ProcessLibrary, ScriptLimits, charter

ROOT = Path(__file__).resolve().parent


def _default_config(instance_path: Path) -> dict[str, Any]:
    seeds = ROOT.parent / "shared" / "seeds"
    return {
        "DATABASE_URL": os.environ.get("DATABASE_URL",
                                       f"sqlite:///{instance_path / 'cauce.db'}"),
        "BPMN_DIR": os.environ.get("CAUCE_BPMN_DIR", str(ROOT / "bpmn")),
        "FORMS_DIR": os.environ.get("CAUCE_FORMS_DIR", str(ROOT / "forms")),
        "SEEDS_DIR": os.environ.get("CAUCE_SEEDS_DIR", str(seeds) if seeds.is_dir() else ""),
        "DOCUMENTS_DIR": os.environ.get("CAUCE_DOCUMENTS_DIR", str(instance_path / "documents")),
        "WORKER_INTERVAL_SECONDS": int(os.environ.get("CAUCE_WORKER_INTERVAL", "30")),
        # Limits of every BPMN script and expression (see engine/limits.py).
        "SCRIPT_TIMEOUT_SECONDS": float(os.environ.get("CAUCE_SCRIPT_TIMEOUT", "2")),
        "MAX_CASE_DATA_BYTES": int(os.environ.get("CAUCE_MAX_CASE_DATA_BYTES", str(1024 * 1024))),
    }


def _secret_key(instance_path: Path) -> str:
    # A stable key survives restarts of `make run`; production sets SECRET_KEY explicitly.
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: load and vet the procedures, connect the engine, register views."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None,
                template_folder="web/templates")
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    app.config.update(_default_config(instance))
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)

    # A broken procedure stops start-up here, naming file, element, line and reason.
    library = ProcessLibrary.load_directory(app.config["BPMN_DIR"], app.config["FORMS_DIR"])
    engine = app.config.get("ENGINE") or Engine(
        app.config["DATABASE_URL"], library, documents_dir=app.config["DOCUMENTS_DIR"],
        effects=charter.effects(), script_limits=ScriptLimits(
            timeout=float(app.config["SCRIPT_TIMEOUT_SECONDS"]),
            max_data_bytes=int(app.config["MAX_CASE_DATA_BYTES"])),
        **app.config.get("ENGINE_OPTIONS", {}))
    engine.create_schema()
    app.extensions["cauce"] = engine

    from web import init_app

    init_app(app)
    return app
