#!/usr/bin/env bash
# Builds the guest kernel: Debian's linux-source, `make tinyconfig`, plus
# rootfs-build/kernel/vulcan.config, everything built in. Output: OUT/vmlinux
# (uncompressed ELF, what Firecracker boots), OUT/bzImage (QEMU -kernel), OUT/config.
# Cached outside the checkout under VULCAN_CACHE, keyed on the source, the options
# and this script, so an unchanged kernel is never rebuilt.
# Usage: rootfs-build/kernel.sh [OUT]        (default OUT: build/kernel)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

out=${1:-build/kernel}
source_tar=${VULCAN_KERNEL_SOURCE:-/usr/src/linux-source-6.1.tar.xz}
fragment="$here/kernel/vulcan.config"
need_file "$source_tar" "apt-get install linux-source-6.1"
need_tool make gcc flex bison bc

key=$(inputs_key "$source_tar" "$fragment" "$0")
cached="$VULCAN_CACHE/kernel/$key"
if [[ -f $cached/vmlinux ]]; then
  step "kernel: cached build $key"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/vulcan-kernel.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  step "kernel: unpacking $(basename "$source_tar")"
  tar -xf "$source_tar" -C "$work"
  src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
  step "kernel: configuring (tinyconfig + $(grep -c '^CONFIG_' "$fragment") options)"
  make -C "$src" -s tinyconfig >/dev/null
  "$src/scripts/kconfig/merge_config.sh" -m -O "$src" "$src/.config" "$fragment" >/dev/null
  make -C "$src" -s olddefconfig
  missing=0
  while IFS= read -r line; do
    [[ $line == CONFIG_* ]] || continue
    if ! grep -qx "$line" "$src/.config"; then
      echo "kernel: option not satisfied: $line" >&2
      missing=1
    fi
  done <"$fragment"
  ((missing == 0)) || fail "kernel: some options could not be enabled (see above)"
  step "kernel: compiling with $(nproc) jobs (about 5 minutes on 2 cores)"
  make -C "$src" -s -j"$(nproc)" vmlinux bzImage
  mkdir -p "$VULCAN_CACHE/kernel"
  staging="$cached.partial.$$"
  mkdir -p "$staging"
  cp "$src/vmlinux" "$staging/vmlinux"
  cp "$src/arch/x86/boot/bzImage" "$staging/bzImage"
  cp "$src/.config" "$staging/config"
  rm -rf "$cached"
  mv "$staging" "$cached"
fi
mkdir -p "$out"
for file in vmlinux bzImage config; do
  cp "$cached/$file" "$out/$file.partial"
  mv "$out/$file.partial" "$out/$file"
done
step "kernel: $out/vmlinux ($(du -h "$out/vmlinux" | cut -f1)), $out/bzImage ($(du -h "$out/bzImage" | cut -f1))"
