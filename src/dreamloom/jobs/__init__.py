"""Jobs: plans, accounting, scheduling rules, executors and the dispatcher.

Import from the submodules (``plans``, ``accounting``, ``balance``, ``scheduler``, ``submit``,
``dispatcher``, ``executor.local``). This package imports nothing itself, so that a spawned
worker process, which imports ``jobs.executor.worker``, stays light.
"""
