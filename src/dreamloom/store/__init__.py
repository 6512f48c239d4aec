"""Persistence: the database schema, migrations, repositories and image files.

Import what you need from the submodules: ``db`` (engines, sessions, ``upgrade``), ``tables``,
``accounts``, ``jobs_repo``, ``ledger`` and ``files``.
"""
