"""The push stage: the content-tagged image to each account's registry; nothing uploaded when unchanged.

Entry points: ``push.push_image(targets)``, ``records.pushed_image(state_dir, account)`` (what the
deploy stage deploys), ``records.PushResult``. This ``__init__`` stays light (no Docker SDK).

Modules: ``registry_auth`` (ECR tokens or the Docker config), ``pushlog`` (reading the push
stream), ``records`` (``.state/pushes.json``), ``push`` (the stage).
"""
