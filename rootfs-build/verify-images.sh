#!/usr/bin/env bash
# Inspects images without mounting them (debugfs) and fails unless each has the
# agent, init, /work, the workload user and its runtime, present and executable.
#   rootfs-build/verify-images.sh IMAGE...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"
need_tool debugfs
(($# > 0)) || fail "usage: verify-images.sh IMAGE..."

# stat_of IMAGE PATH — debugfs's stat output of PATH (empty when absent).
stat_of() {
  debugfs -R "stat \"$2\"" "$1" 2>/dev/null || true
}

# resolve IMAGE PATH — follows symlinks inside the image; prints the final path.
resolve() {
  local image=$1 path=$2 hops target
  for hops in 1 2 3 4 5 6 7 8; do
    target=$(stat_of "$image" "$path" | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')
    [[ -n $target ]] || break
    [[ $target == /* ]] || target="$(dirname "$path")/$target"
    path=$target
    : "$hops"
  done
  printf '%s\n' "$path"
}

failures=0
# check IMAGE PATH KIND — KIND: exec (regular file with an x bit) or dir.
check() {
  local image=$1 path=$2 kind=$3 real info mode
  real=$(resolve "$image" "$path")
  info=$(stat_of "$image" "$real")
  mode=$(sed -n 's/.*Mode: *\([0-7]*\).*/\1/p' <<<"$info" | head -n 1)
  case $kind in
    exec) grep -q 'Type: regular' <<<"$info" && ((8#${mode:-0} & 8#111)) ;;
    dir) grep -q 'Type: directory' <<<"$info" ;;
  esac || {
    echo "  FAIL $(basename "$image"): $path ($real) is not a present $kind" >&2
    failures=$((failures + 1))
    return 0
  }
  echo "  ok   $(basename "$image"): $path${real:+ -> $real} ($kind, mode ${mode:-?})"
}

for image in "$@"; do
  need_file "$image" "build it with make images"
  runtime=$(basename "$image" .ext4)
  step "verifying $image"
  check "$image" /usr/local/bin/vulcan-guest exec
  check "$image" /sbin/init exec
  check "$image" /work dir
  if debugfs -R 'cat /etc/passwd' "$image" 2>/dev/null | grep -q '^vulcan:x:1000:'; then
    echo "  ok   $(basename "$image"): user vulcan (uid 1000)"
  else
    echo "  FAIL $(basename "$image"): no user vulcan in /etc/passwd" >&2
    failures=$((failures + 1))
  fi
  case $runtime in
    python) check "$image" /usr/bin/python3 exec ;;
    node) check "$image" /usr/local/bin/node exec ;;
    go)
      check "$image" /usr/bin/go exec
      check "$image" /var/cache/vulcan/go-build dir
      ;;
    *) echo "  (no runtime check for $runtime)" ;;
  esac
done
((failures == 0)) || fail "$failures check(s) failed"
step "all images verified"
