# ghe-backup: GitHub's backup-utils (its command: ghe-backup) plus our scheduler/health program
# (its command: ghe-backup-service, i.e. python3 -m ghe_backup), under tini as PID 1.
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
# the backup-utils stage. TZ=UTC: backup-utils names snapshots in local time, /health reads them
# as UTC (the runner also passes TZ=UTC to backup-utils). Our bin (ghe-backup-service, and the
# guard in front of backup-utils' ghe-backup) comes first on PATH.
FROM ${BASE_IMAGE} AS runtime
ENV LANG=C.UTF-8 \
    TZ=UTC \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/ghe-backup/ghe_backup/backup/bin:/opt/venv/bin:/opt/backup-utils/bin:$PATH \
    PYTHONPATH=/opt/ghe-backup \
    HEALTH_PORT=8080

# backup-utils needs bash, rsync, ssh, git, jq, bc and ps (procps: without ps, backup-utils
# takes every in-progress marker for stale); tini is PID 1 and reaps orphans (ssh ControlPersist
# masters). Installed only when the base lacks them (so a base without network access, like the
# sandbox's, needs none here and this step adds no layer). When it installs, its layer is whatever
# Debian's mirror serves that day: the one layer whose input is not in this repository.
RUN missing=""; \
    for pair in bash:bash rsync:rsync ssh:openssh-client git:git jq:jq bc:bc ps:procps tini:tini; do \
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"; \
    done; \
    if [ -n "$missing" ]; then \
        apt-get update && apt-get install -y --no-install-recommends $missing ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# Stage 3: GitHub backup-utils, at the version pinned in ghe_backup/backup/backup_utils.py (the
# one place to upgrade it; BACKUP_UTILS_VERSION overrides): by default its release archive,
# checked against the pinned sha256 when there is one (since 2024 the repository's tags hold only
# docs; 'git' is the old name of this source). With BACKUP_UTILS_SOURCE=context, the ghe-backup
# command(s) in BACKUP_UTILS_CONTEXT (a directory of the build context) are used instead (tests
# and the offline sandbox use the stand-in ghe_backup/backup/standin). Staged under /layer with
# fixed mtimes and copied to `/`, as the deps are, so its layer is reproducible too.
FROM runtime AS backup-utils
ARG BACKUP_UTILS_VERSION= \
    BACKUP_UTILS_SHA256= \
    BACKUP_UTILS_URL= \
    BACKUP_UTILS_SOURCE=release \
    BACKUP_UTILS_CONTEXT=ghe_backup/backup/standin
COPY ghe_backup/backup/backup_utils.py pip-ca.pe[m] /tmp/backup-utils/
COPY ${BACKUP_UTILS_CONTEXT}/ /tmp/backup-utils-context/
ARG SOURCE_DATE_EPOCH=315532800
RUN set -e; \
    pin() { python3 /tmp/backup-utils/backup_utils.py "$@"; }; \
    version="${BACKUP_UTILS_VERSION:-$(pin VERSION)}"; \
    case "$BACKUP_UTILS_SOURCE" in \
    context) \
        mkdir -p /layer/opt/backup-utils/bin && cp -a /tmp/backup-utils-context/. /layer/opt/backup-utils/bin/ ;; \
    release|git) \
        url="${BACKUP_UTILS_URL:-$(pin URL "$version")}"; \
        sha="${BACKUP_UTILS_SHA256:-$(pin SHA256 "$version")}"; \
        cafile=""; if [ -f /tmp/backup-utils/pip-ca.pem ]; then cafile=/tmp/backup-utils/pip-ca.pem; fi; \
        fetched=$(pin fetch "$url" "$sha" /tmp/backup-utils/archive.tar.gz "$cafile"); \
        echo "backup-utils $version from $url: $fetched"; \
        mkdir -p /layer/opt/backup-utils; \
        tar -xzf /tmp/backup-utils/archive.tar.gz --strip-components=1 -C /layer/opt/backup-utils ;; \
    *) \
        echo "BACKUP_UTILS_SOURCE must be 'release' or 'context', not '$BACKUP_UTILS_SOURCE'" >&2; exit 1 ;; \
    esac; \
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
# /health answers 200 while the program runs (alerts are in its JSON): this checks it is up.
# Healthy while /health answers (where HEALTH_BIND and HEALTH_PORT put it); its alerts (stale,
# low disk) are for monitoring, not a reason to restart the container. `health` exits 3 only
# when nothing answers.
HEALTHCHECK --interval=60s --timeout=5s --start-period=30s --retries=3 \
    CMD ghe-backup-service health --timeout 4 >/dev/null; [ $? -ne 3 ]
# Stop with a timeout of at least SHUTDOWN_GRACE + 30 s where the runtime lets you set one
# (docker stop -t 90; docs/backup-program.md, "Shutdown"). Taupage cannot: it stops with
# Docker's default 10 s, so the shipped senza base sets SHUTDOWN_GRACE=5 ("The stop timeout").
ENTRYPOINT ["tini", "--", "ghe-backup-service"]
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
