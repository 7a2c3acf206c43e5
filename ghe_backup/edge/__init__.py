"""The Invoke edge: where the command line, the Invoke config and the environment meet the pipeline.

- ``executor``: runs the task graph (hands ``--account``/``--sandbox`` down to pre-tasks, runs
  every preflight check first, maps errors to named exit codes: the one place that does)
- ``settings``: every ``ghe.*`` Invoke setting with its default, read strictly
- ``targets``: resolves flags, config and the sandbox's endpoints into ``Target``s, once per run
- ``checks``: the preflight checks of the tasks
- ``prompt``: the approval question on a terminal
- ``render`` and ``views``: the one renderer of results (terminal tables, plain text, JSON)

Only the edge may read the sandbox's state; the pipeline (``ghe_backup.delivery``) never does.
"""
