"""The push stage: the content-tagged image to each account's registry; nothing uploaded when unchanged.

Entry points: ``push.push_image(targets)``, ``records.pushed_image(state_dir, account)`` (what the
deploy stage deploys), ``records.PushResult``, ``promote.promote_image`` (``deploy --image``).
This ``__init__`` stays light (no Docker SDK).

Modules: ``registry_auth`` (ECR tokens or the Docker config), ``pushlog`` (reading the push
stream), ``records`` (``.state/pushes.json``), ``content`` (what counts as the same image),
``push`` (the stage), ``manifests``, ``registry_login`` and ``registry_api`` (a Registry HTTP API
v2 client), ``registry_copy`` (copy by digest), ``promote`` (build once, deploy many).
"""
