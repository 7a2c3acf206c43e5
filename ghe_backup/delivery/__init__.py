"""The pipeline: test -> image -> push -> deploy[account], as stages over explicit data.

Each stage is a package whose ``__init__`` names its entry points:

- ``config/``: the senza base, shared defaults and account overlays, merged and validated
- ``gate/``: the test stage (the fast unit tests)
- ``image/``: build the image, tagged by content, and smoke-test it
- ``push/``: push it to each account's registry
- ``deploy/``: roll it out through Lizzy or senza, restore on failure, history and status

``target`` holds what the edge resolves once per run and hands to every stage: a ``Target`` per
account and the ``BuildSite``. The pipeline never imports the sandbox or the Invoke edge; shared
AWS, CloudFormation, engine and command plumbing is in ``ghe_backup.plumbing``.
"""
