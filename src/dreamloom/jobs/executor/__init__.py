"""Executors: where tasks run (``base`` is the contract, ``local`` worker processes)."""
