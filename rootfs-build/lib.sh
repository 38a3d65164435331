# Shared helpers of the rootfs-build scripts (sourced, not run).
# shellcheck shell=bash

# Where finished kernels, images and downloads are kept across checkouts and CI runs.
: "${VULCAN_CACHE:=/var/cache/vulcan-guest}"
export VULCAN_CACHE
_vulcan_started=$(date +%s)

# Progress line with the time elapsed since the script started.
step() {
  printf '[%4ss] %s\n' "$(($(date +%s) - _vulcan_started))" "$*"
}

fail() {
  echo "error: $*" >&2
  exit 1
}

# need_tool TOOL... — fail clearly when a prerequisite is missing.
need_tool() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is required (install it with apt-get; see README)"
  done
}

# need_file PATH HINT
need_file() {
  [[ -e $1 ]] || fail "$1 is missing: $2"
}

# inputs_key FILE... — a short hash of the files' contents: the cache key of a build.
inputs_key() {
  cat "$@" | sha256sum | cut -c1-16
}
