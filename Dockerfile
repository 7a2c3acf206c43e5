# ghe-backup: GitHub's backup-utils plus our scheduler/health program (python3 -m ghe_backup).
#
# Layers go from what changes least to what changes most: a change to ghe_backup/ re-runs only
# the code stage and the last step (the COPY of our code), a new commit the labels and that COPY.
# Every layer is reproducible: the same inputs give the same layers even without a build cache
# (see the deps stage). Build with `inv image` (it builds the context from git's view of the
# files below, tags the image by content and builds with host networking so the pip step can
# reach PyPI); see docs/image-and-push.md.

# Any Debian-based image with python3 >= 3.11 and the venv module (python:3.11-slim has it;
# the sandbox passes its offline base image, made with mmdebstrap, with python3-venv and every
# system tool installed below).
ARG BASE_IMAGE=python:3.11-slim

# Stage 1: our runtime Python dependencies, at the versions requirements.lock pins (the ones the
# tests run), from PyPI into a venv. Only /opt/venv is kept. `inv image` may add `pip-ca.pem`
# to the context (the host's PIP_CERT, e.g. behind a TLS-intercepting proxy); it stays here.
# Reproducible: the same lock gives the same layer bytes even without a build cache (a no-cache
# rebuild uploads nothing). Nothing in /opt/venv carries the build's time: pip compiles nothing
# (--no-compile; PYTHONDONTWRITEBYTECODE for pip's own runs), the byte-code is compiled once, in
# one process, in `unchecked-hash` mode (no source mtime inside, never rewritten), pip and
# setuptools (with their RECORDs and caches) are removed, and every file, link and directory gets
# SOURCE_DATE_EPOCH as its mtime. The venv is staged under /layer at its final path, with
# /opt/ghe-backup (the WORKDIR) beside it, and copied to `/`: a COPY stamps the directory it
# copies into with the build time, and `/` is the one directory a layer does not record.
FROM ${BASE_IMAGE} AS deps
COPY requirements-image.txt pip-ca.pe[m] /tmp/deps/
# Each stage's first step differs from every other stage's on the same parent: the classic
# builder's cache picks the newest matching step, so a shared first step (say, this ARG) could
# lead the deps stage into the code stage's chain and re-run pip.
ARG SOURCE_DATE_EPOCH=315532800
RUN set -e; \
    export PYTHONDONTWRITEBYTECODE=1; \
    cert=""; if [ -f /tmp/deps/pip-ca.pem ]; then cert="--cert /tmp/deps/pip-ca.pem"; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps --only-binary=:all: \
        --no-compile $cert -r /tmp/deps/requirements-image.txt; \
    /opt/venv/bin/pip check; \
    /opt/venv/bin/pip uninstall --yes --quiet pip setuptools; \
    find /opt/venv -name __pycache__ -prune -exec rm -rf {} +; \
    /opt/venv/bin/python -m compileall -q -j 1 --invalidation-mode unchecked-hash /opt/venv/lib; \
    mkdir -p /layer/opt/ghe-backup; \
    mv /opt/venv /layer/opt/venv; \
    find /layer -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

# Stage 2: the runtime base (the environment and the system tools), shared by the image and by
# the backup-utils stage, which needs git.
FROM ${BASE_IMAGE} AS runtime
ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:/opt/backup-utils/bin:$PATH \
    PYTHONPATH=/opt/ghe-backup \
    HEALTH_PORT=8080

# backup-utils needs bash, rsync, ssh, git, jq and bc; installed only when the base lacks them
# (so a base without network access, like the sandbox's, needs none here and this step adds no
# layer). When it installs, its layer is whatever Debian's mirror serves that day: the one layer
# whose input is not in this repository.
RUN missing=""; \
    for pair in bash:bash rsync:rsync ssh:openssh-client git:git jq:jq bc:bc; do \
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"; \
    done; \
    if [ -n "$missing" ]; then \
        apt-get update && apt-get install -y --no-install-recommends $missing ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# Stage 3: GitHub backup-utils, by default cloned at a pinned tag; with BACKUP_UTILS_SOURCE=context,
# the `ghe-backup` command(s) in BACKUP_UTILS_CONTEXT (a directory of the build context) are used
# instead (tests and the offline sandbox use the stand-in ghe_backup/backup/standin). Staged under
# /layer with fixed mtimes and copied to `/`, as the deps are, so its layer is reproducible too.
FROM runtime AS backup-utils
ARG BACKUP_UTILS_VERSION=v3.10.0 \
    BACKUP_UTILS_REPO=https://github.com/github/backup-utils.git \
    BACKUP_UTILS_SOURCE=git \
    BACKUP_UTILS_CONTEXT=ghe_backup/backup/standin
COPY ${BACKUP_UTILS_CONTEXT}/ /tmp/backup-utils-context/
ARG SOURCE_DATE_EPOCH=315532800
RUN set -e; \
    if [ "$BACKUP_UTILS_SOURCE" = context ]; then \
        mkdir -p /layer/opt/backup-utils/bin && cp -a /tmp/backup-utils-context/. /layer/opt/backup-utils/bin/; \
    elif [ "$BACKUP_UTILS_SOURCE" = git ]; then \
        git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$BACKUP_UTILS_VERSION" \
            "$BACKUP_UTILS_REPO" /layer/opt/backup-utils && rm -rf /layer/opt/backup-utils/.git; \
    else \
        echo "BACKUP_UTILS_SOURCE must be 'git' or 'context', not '$BACKUP_UTILS_SOURCE'" >&2; exit 1; \
    fi; \
    test -x /layer/opt/backup-utils/bin/ghe-backup; \
    find /layer -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

# Stage 4: our program, staged the same way (the context's files come at 1980 already; the
# directories COPY creates do not).
FROM ${BASE_IMAGE} AS code
COPY ghe_backup/ /layer/opt/ghe-backup/ghe_backup/
ARG SOURCE_DATE_EPOCH=315532800
RUN find /layer -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

# Stage 5: the image. Every layer is a COPY of a staged tree into `/`: no layer records the time
# it was built, so the same inputs give the same layers (RootFS diff ids) with or without a cache.
FROM runtime
COPY --from=deps /layer/ /
COPY --from=backup-utils /layer/ /

# Metadata before our code: with the classic builder every instruction is a step, and every
# step after the code's COPY runs again whenever the code changes, so the COPY is last. An ARG's
# value affects only the cache of RUN and LABEL steps: a new commit (REVISION) re-runs the LABEL
# and the COPY after it (about 0.3 MB); a code-only change re-runs the code stage and that COPY.
# /opt/ghe-backup comes with the deps' layer, so WORKDIR adds no layer.
WORKDIR /opt/ghe-backup
HEALTHCHECK --interval=60s --timeout=5s --start-period=30s --retries=3 \
    CMD python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=4)" \
        "http://127.0.0.1:${HEALTH_PORT:-8080}/health" || exit 1
ENTRYPOINT ["python3", "-m", "ghe_backup"]
CMD ["run"]
ARG SOURCE=https://github.com/zalando/ghe-backup \
    REVISION=unknown \
    VERSION=unknown
LABEL org.opencontainers.image.title="ghe-backup" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}"

# Our program last: the layer that changes with almost every commit.
COPY --from=code /layer/ /
