# shellcheck shell=bash
# Sourced by docker/*.sh: points podman at a containers.conf made for this machine.
# crun fails on hybrid cgroups here, and root cannot raise ulimits past the hard limit, so the config
# selects runc and cgroupfs and pins the containers' ulimits to what this machine allows.
# A CONTAINERS_CONF already set in the environment wins.

podman_setup() {
  if ! command -v podman >/dev/null 2>&1; then
    echo "podman is missing: apt-get install podman runc debootstrap" >&2
    return 1
  fi
  if [[ -z "${CONTAINERS_CONF:-}" ]]; then
    local dir nofile
    dir="${RAG_PODMAN_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/podman}"
    nofile="$(ulimit -Hn)"
    [[ "$nofile" == unlimited ]] && nofile=1048576
    mkdir -p "$dir"
    sed "s/@NOFILE@/$nofile/g" "$(dirname "${BASH_SOURCE[0]}")/containers.conf.in" >"$dir/containers.conf"
    export CONTAINERS_CONF="$dir/containers.conf"
  fi
}
