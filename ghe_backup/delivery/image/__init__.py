"""The image stage: build the ghe-backup image, tagged by content, and smoke-test it.

Entry points: ``build.build_image(site)``, ``build.current_image(site)`` (the image for the tree
as it is), ``records.ImageResult``; ``args.build_args`` (pure, used by the edge to resolve the
``BuildSite``). This package's ``__init__`` stays light: the Docker SDK loads with ``build``.

Modules: ``args`` (build arguments), ``context`` (the build context and its content tag),
``buildlog`` (reading the build stream), ``smoke`` (the smoke test), ``records``
(``.state/image.json``), ``build`` (the stage).
"""
