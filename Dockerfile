# QuorumDB node image: `quorumdb serve` as a non-root user, data in /var/lib/quorumdb.
#
# Ordinary build (a registry is reachable; wheels are built from the source here):
#   docker build -t quorumdb .
# Build without any network access (what .ci/docker-image does): put a wheelhouse
# (the quorumdb wheel and every dependency's wheel) in wheelhouse/ of the build
# context and name a base image that is already present:
#   docker build --build-arg BASE_IMAGE=quorumdb-base:bookworm -t quorumdb CONTEXT
#
# BASE_IMAGE needs python3 with the venv module (Debian: python3-venv) and useradd.
# Both stages use the same base, so the virtualenv copied from the builder
# points at the same interpreter path in the final image.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# Lets .ci/docker-image remove this stage's image once the real one is tagged.
LABEL org.quorumdb.stage=builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
COPY . /src
# A wheelhouse in the context means "install exactly these, offline"; without one
# the wheels are built here, which needs PyPI (--use-pep517 because pysyncobj is a
# bare setup.py project that an old pip would build only with `wheel` installed).
# Either way the install itself is --no-index: the image gets exactly those wheels.
RUN set -eu; \
    python3 -m venv /opt/quorumdb; \
    if ls /src/wheelhouse/quorumdb-*.whl >/dev/null 2>&1; then \
        echo "installing from the wheelhouse in the build context (offline)"; \
        wheels=/src/wheelhouse; \
    else \
        echo "no wheelhouse/ in the build context: building wheels from the source"; \
        /opt/quorumdb/bin/pip wheel --use-pep517 --wheel-dir /tmp/wheels /src; \
        wheels=/tmp/wheels; \
    fi; \
    /opt/quorumdb/bin/pip install --no-index --find-links "$wheels" quorumdb; \
    /opt/quorumdb/bin/quorumdb serve --help >/dev/null; \
    test -x /opt/quorumdb/bin/cluster-cli

FROM ${BASE_IMAGE}
# A fixed uid/gid so that volume ownership is stable across image rebuilds.
RUN groupadd --gid 10001 quorumdb \
    && useradd --uid 10001 --gid quorumdb --no-create-home \
        --home-dir /var/lib/quorumdb --shell /usr/sbin/nologin quorumdb \
    && install -d -o quorumdb -g quorumdb -m 0750 /var/lib/quorumdb
COPY --from=builder /opt/quorumdb /opt/quorumdb
# PATH is spelled out: an image made with `docker import` has no PATH to extend.
# Inside a container the node listens on every interface; the QUORUMDB_* variables
# are the same ones `quorumdb serve --help` documents, so `docker run -e` overrides them.
ENV PATH=/opt/quorumdb/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    QUORUMDB_DATA_DIR=/var/lib/quorumdb \
    QUORUMDB_PG_LISTEN=0.0.0.0:5432 \
    QUORUMDB_GRPC_LISTEN=0.0.0.0:6432 \
    QUORUMDB_RAFT_LISTEN=0.0.0.0:7432 \
    QUORUMDB_HTTP_LISTEN=0.0.0.0:8432
USER quorumdb
WORKDIR /var/lib/quorumdb
# PostgreSQL, gRPC (cluster-cli, statement forwarding), Raft, HTTP (/metrics, /healthz).
EXPOSE 5432 6432 7432 8432
# Healthy = GET /healthz on the HTTP port (QUORUMDB_HTTP_LISTEN) answers 200: the process
# runs and serves. Deliberately not /readyz: a node cut off from the majority is alive,
# and restarting it would not help (use /readyz for load balancers and orchestrators).
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; h, _, p = os.environ.get('QUORUMDB_HTTP_LISTEN', '127.0.0.1:8432').rpartition(':'); h = h.strip('[]'); h = '127.0.0.1' if h in ('', '0.0.0.0', '::') else h; h = f'[{h}]' if ':' in h else h; urllib.request.urlopen(f'http://{h}:{p}/healthz', timeout=2).close()"]
# `quorumdb serve` handles SIGTERM itself (clean shutdown, RocksDB closed), so it can be PID 1.
ENTRYPOINT ["quorumdb", "serve"]
