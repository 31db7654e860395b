"""Helpers that run Cauce as separate processes: servers, timer workers, a private PostgreSQL."""
