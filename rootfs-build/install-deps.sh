#!/usr/bin/env bash
# Installs the Debian packages that building images and booting VMs need, when
# missing (apt-get; needs root), and vhost-device-vsock (cargo, pinned version)
# into the cache outside the checkout.
#   rootfs-build/install-deps.sh [--vhost-device-vsock VERSION DEST]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$here/lib.sh"

# command:package pairs, plus the kernel source tarball.
wanted=(
  gcc:build-essential make:make bc:bc flex:flex bison:bison strip:binutils
  debootstrap:debootstrap mkfs.ext4:e2fsprogs debugfs:e2fsprogs unshare:util-linux
  qemu-system-x86_64:qemu-system-x86 xz:xz-utils
)
missing=()
for pair in "${wanted[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
done
[[ -f /usr/src/linux-source-6.1.tar.xz ]] || missing+=(linux-source-6.1)
[[ -f /usr/include/libelf.h ]] || missing+=(libelf-dev)
[[ -f /usr/include/openssl/ssl.h ]] || missing+=(libssl-dev)
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || fail "missing Debian packages (${missing[*]}); run as root or install them"
  step "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ${1:-} == --vhost-device-vsock ]]; then
  version=${2:?version}
  dest=${3:?destination}
  if [[ ! -x $dest/bin/vhost-device-vsock ]]; then
    need_tool cargo
    step "cargo install vhost-device-vsock $version (about 2 minutes)"
    cargo install vhost-device-vsock --version "$version" --locked --root "$dest" --quiet
  fi
fi
step "build dependencies present"
