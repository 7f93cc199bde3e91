# syntax=docker/dockerfile:1
#
# Both images from one file (multi-stage):
#   docker build --target operator -t ghcr.io/mlendpoints/operator:0.1.0 .   # mlendpoints run
#   docker build --target runtime  -t ghcr.io/mlendpoints/runtime:0.1.0 .    # mlendpoints serve
#
# The package is installed into a virtualenv in a build stage, with the extra of its role
# ([operator] or [runtime]: the scoring image carries no kopf, the operator image no model
# libraries; the runtime image also runs ModelMonitor CronJobs, hence [monitoring]); the final
# stages copy only that virtualenv onto the slim base and run as UID 1000 (the UID the
# operator's scoring pods run as). No HEALTHCHECK: Kubernetes probes do that.
# tests/chart/test_dockerfile.py runs the build stages' RUN steps in fresh virtualenvs, starts both
# entry points and lints this file with hadolint.
#
# Base image: Python 3.11 (the oldest Python the package supports) on Debian 12 slim, pinned by
# version tag and by digest. Bump both together (e.g. Renovate's docker manager) and check the
# digest with `docker buildx imagetools inspect python:<tag>`.
FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16 AS base
RUN groupadd --system --gid 1000 mlendpoints \
 && useradd --system --uid 1000 --gid 1000 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin mlendpoints

# ---- build stages: the source, then one virtualenv per role --------------------------------
FROM base AS source
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator

FROM source AS build-operator
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check "/src[operator]"

FROM source AS build-runtime
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check "/src[runtime,storage,monitoring]"

# ---- final images: the base plus one virtualenv, non-root, no build context -----------------
FROM base AS operator
COPY --from=build-operator /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 1000:1000
# 8080: liveness (/healthz), 8081: Prometheus metrics.
EXPOSE 8080 8081
ENTRYPOINT ["mlendpoints"]
CMD ["run"]

FROM base AS runtime
COPY --from=build-runtime /opt/venv /opt/venv
# pip stays in the virtualenv: the pip-install init container of scoring pods runs
# `python -m pip install --target ...` with this image for environment.pipRequirements.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /var/azureml-app
USER 1000:1000
EXPOSE 5001
ENTRYPOINT ["mlendpoints"]
CMD ["serve"]
