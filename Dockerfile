# ghe-backup: GitHub's backup-utils plus our scheduler/health program (python3 -m ghe_backup).
#
# Layers go from what changes least to what changes most: a change to ghe_backup/ re-runs only
# the last step (the COPY of our code), a new commit the labels and that COPY. Build with `inv image` (it builds the
# context from git's view of the files below, tags the image by content and builds with host
# networking so the pip step can reach PyPI); see docs/image-and-push.md.

# Any Debian-based image with python3 >= 3.11 and the venv module (python:3.11-slim has it;
# the sandbox passes its offline base image, made with mmdebstrap, with python3-venv and every
# system tool installed below).
ARG BASE_IMAGE=python:3.11-slim

# Stage 1: our runtime Python dependencies, at the versions requirements.lock pins (the ones the
# tests run), from PyPI into a venv. Only /opt/venv is kept. `inv image` may add `pip-ca.pem`
# to the context (the host's PIP_CERT, e.g. behind a TLS-intercepting proxy); it stays here.
FROM ${BASE_IMAGE} AS deps
COPY requirements-image.txt pip-ca.pe[m] /tmp/deps/
RUN set -e; \
    cert=""; if [ -f /tmp/deps/pip-ca.pem ]; then cert="--cert /tmp/deps/pip-ca.pem"; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps --only-binary=:all: \
        $cert -r /tmp/deps/requirements-image.txt; \
    /opt/venv/bin/pip check; \
    /opt/venv/bin/pip uninstall --yes --quiet pip setuptools

# Stage 2: the image.
FROM ${BASE_IMAGE}
ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:/opt/backup-utils/bin:$PATH \
    PYTHONPATH=/opt/ghe-backup \
    HEALTH_PORT=8080

# backup-utils needs bash, rsync, ssh, git, jq and bc; installed only when the base lacks them
# (so a base without network access, like the sandbox's, needs none here).
RUN missing=""; \
    for pair in bash:bash rsync:rsync ssh:openssh-client git:git jq:jq bc:bc; do \
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"; \
    done; \
    if [ -n "$missing" ]; then \
        apt-get update && apt-get install -y --no-install-recommends $missing ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi

COPY --from=deps /opt/venv /opt/venv

# GitHub backup-utils: by default cloned at a pinned tag; with BACKUP_UTILS_SOURCE=context, the
# `ghe-backup` command(s) in BACKUP_UTILS_CONTEXT (a directory of the build context) are used
# instead (tests and the offline sandbox use the stand-in ghe_backup/backup/standin).
ARG BACKUP_UTILS_VERSION=v3.10.0 \
    BACKUP_UTILS_REPO=https://github.com/github/backup-utils.git \
    BACKUP_UTILS_SOURCE=git \
    BACKUP_UTILS_CONTEXT=ghe_backup/backup/standin
COPY ${BACKUP_UTILS_CONTEXT}/ /tmp/backup-utils-context/
RUN set -e; \
    if [ "$BACKUP_UTILS_SOURCE" = context ]; then \
        mkdir -p /opt/backup-utils/bin && cp -a /tmp/backup-utils-context/. /opt/backup-utils/bin/; \
    elif [ "$BACKUP_UTILS_SOURCE" = git ]; then \
        git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$BACKUP_UTILS_VERSION" \
            "$BACKUP_UTILS_REPO" /opt/backup-utils && rm -rf /opt/backup-utils/.git; \
    else \
        echo "BACKUP_UTILS_SOURCE must be 'git' or 'context', not '$BACKUP_UTILS_SOURCE'" >&2; exit 1; \
    fi; \
    rm -rf /tmp/backup-utils-context; \
    test -x /opt/backup-utils/bin/ghe-backup

# Metadata before our code: with the classic builder every instruction is a step, and every
# step after the code's COPY runs again whenever the code changes, so the COPY is last. An ARG's
# value affects only the cache of RUN and LABEL steps: a new commit (REVISION) re-runs the LABEL
# and the COPY after it (about 0.3 MB); a code-only change re-runs the COPY alone.
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
COPY ghe_backup/ /opt/ghe-backup/ghe_backup/
