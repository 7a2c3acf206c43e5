"""Shared plumbing of the pipeline and the sandbox: no stage logic lives here.

- ``command``: the one way to run an external program (logged, redacted, timed out, typed errors)
- ``progress``: progress lines for people (stderr), safe from several threads
- ``redact``: keep secrets out of output
- ``state``: the pipeline's own files under ``.state/`` (atomic JSON writes)
- ``engine``: the Docker engine (connect, inspect, SDK failures as typed errors)
- ``aws``: boto3 sessions acting in one account, through a given endpoint
- ``cloudformation``: read-only views of ghe-backup's stacks and Taupage AMIs in one account
"""
