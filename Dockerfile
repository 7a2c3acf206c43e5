# ghe-backup: GitHub's backup-utils plus our scheduler/health program (python3 -m ghe_backup).
#
# Layers go from what changes least to what changes most, so a change to ghe_backup/ rebuilds
# (and pushes) only the last two layers. Build with `inv image` (it builds the context from
# git's view of the files below and tags the image by content); see docs/image-and-push.md.

# Any Debian-based image with python3 >= 3.11. The sandbox passes its offline base image
# (made with mmdebstrap), which already carries every package installed below.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# backup-utils needs bash, rsync, ssh, git, jq and bc; installed only when the base lacks them
# (so a base without network access, like the sandbox's, builds offline).
RUN missing=""; \
    for pair in bash:bash rsync:rsync ssh:openssh-client git:git jq:jq bc:bc; do \
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"; \
    done; \
    if [ -n "$missing" ]; then \
        apt-get update && apt-get install -y --no-install-recommends $missing ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# Our program's runtime dependencies: taken from the base image when present (the sandbox's
# base has Debian's python3-boto3/-yaml/-croniter), otherwise installed from PyPI.
COPY requirements-image.txt /tmp/requirements-image.txt
RUN if python3 -c "import boto3, yaml, croniter" 2>/dev/null; then \
        echo "runtime dependencies provided by the base image"; \
    else \
        python3 -m pip install --no-cache-dir -r /tmp/requirements-image.txt; \
    fi

# GitHub backup-utils: by default cloned at a pinned tag; with BACKUP_UTILS_SOURCE=context, the
# `ghe-backup` command(s) in BACKUP_UTILS_CONTEXT (a directory of the build context) are used
# instead (tests and the offline sandbox use the stand-in ghe_backup/backup/standin).
ARG BACKUP_UTILS_VERSION=v3.10.0
ARG BACKUP_UTILS_REPO=https://github.com/github/backup-utils.git
ARG BACKUP_UTILS_SOURCE=git
ARG BACKUP_UTILS_CONTEXT=ghe_backup/backup/standin
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

# Metadata and labels come before our code: with the classic builder every instruction is a
# step, and only the steps after the code's COPY run again when the code changes. (An ARG's
# value does not affect the cache of COPY/LABEL steps, only of RUN steps, and no RUN follows.)
ENV PATH=/opt/backup-utils/bin:$PATH \
    PYTHONPATH=/opt/ghe-backup \
    HEALTH_PORT=8080
WORKDIR /opt/ghe-backup
HEALTHCHECK --interval=60s --timeout=5s --start-period=30s --retries=3 \
    CMD python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=4)" \
        "http://127.0.0.1:${HEALTH_PORT:-8080}/health" || exit 1
ENTRYPOINT ["python3", "-m", "ghe_backup"]
CMD ["run"]
ARG REVISION=unknown
ARG VERSION=unknown
ARG SOURCE=https://github.com/zalando/ghe-backup

# Our program last: the layer that changes with almost every commit.
COPY ghe_backup/ /opt/ghe-backup/ghe_backup/
LABEL org.opencontainers.image.title="ghe-backup" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}"
