#!/usr/bin/env bash
# Install everything sbx needs on Debian 12 (as root, idempotent), fetch the guest kernel
# into sbx's own directory (never the host's /boot), and build sbx into ./build.
#
#   ./setup.sh            install + build
#   SBX_SKIP_APT=1 ./setup.sh   build only (packages already present)
set -euo pipefail
cd "$(dirname "$0")"

# Each package, and why sbx needs it.
packages=(
  build-essential cmake ninja-build pkg-config  # toolchain (g++ 12: -std=c++2b)
  clang libclang-rt-14-dev                      # libFuzzer targets with ASan/UBSan
  clang-16 libclang-rt-16-dev                   # the fuzz build: clang 14 cannot compile libstdc++ 12's std::expected (no P0848)
  libtomlplusplus-dev                           # Sandboxfile parser
  libssl-dev                                    # TLS for the proxy
  libspdlog-dev nlohmann-json3-dev              # logs; --json output
  catch2                                        # unit tests (Catch2 v2)
  libre2-dev                                    # egress rules
  libsodium-dev                                 # secret store, digests
  libarchive-dev libseccomp-dev                 # OCI layers and the initramfs (cpio newc); sandboxing helpers
  liblz4-dev                                    # the PVH boot path unpacks the kernel's LZ4 payload with the reference decoder
  qemu-system-x86 qemu-utils                    # the VMM (microvm machine) and virtiofsd
  busybox-static e2fsprogs                      # built-in guest image; mkfs.ext4 -d for root disks; mkfs/e2fsck/resize2fs for sandbox disks
  kmod                                          # depmod -b: modules.dep of the modules disk a guest with [docker] mounts
  cpio                                          # cross-checks the initramfs (cpio newc) libarchive writes, in tests
  python3 python3-jsonschema                    # schema conformance test
  curl openssl squid                            # proxy tests and benchmark baseline
  ca-certificates
  libcurl4-openssl-dev                          # registry pulls: streaming HTTPS with TLS verification, proxies, bounded redirects
  docker-registry python3-cryptography          # registry tests: a real distribution server on loopback, a JWT token server for it
  python3-yaml iptables                         # render tests: PyYAML reads manifests back; the rendered redirect runs in a netns
  python3-websockets                            # proxy tests: a real WebSocket server and client through intercepted tunnels
  mmdebstrap                                    # the dev image of agent presets: Debian 12 built from this host's apt sources
)
# npm on the host: the agent layer asks it for the registry ('npm config get registry') and the
# version ('npm view', never 'npm install'); the render tests validate manifests offline with
# kubernetes-models (installed into the build tree with --ignore-scripts). A node from elsewhere
# (nodesource) brings its own npm, and Debian's npm package would conflict with it.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

if [[ "${SBX_SKIP_APT:-0}" != 1 ]]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  else
    echo "setup: all Debian packages present" >&2
  fi
  # squid is only a benchmark baseline: keep its system service from holding port 3128.
  if command -v systemctl >/dev/null && systemctl is-active --quiet squid 2>/dev/null; then
    systemctl disable --now squid >/dev/null 2>&1 || true
  fi
  # docker-registry is only a test server (started per test on a free loopback port): no system service.
  if command -v systemctl >/dev/null && systemctl is-enabled --quiet docker-registry 2>/dev/null; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
fi

# Guest kernel: Debian's cloud kernel, unpacked into /var/lib/sbx/kernel (not /boot: that would
# add a boot entry to this machine). The version comes from the metapackage's dependency.
kernel_root=${SBX_KERNEL_ROOT:-/var/lib/sbx/kernel}
if [[ ! -e "$kernel_root/current" ]]; then
  pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [[ -n "$pkg" ]] || { echo "setup: cannot resolve linux-image-cloud-amd64 (run apt-get update)" >&2; exit 1; }
  echo "setup: fetching guest kernel $pkg into $kernel_root" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null)
  mkdir -p "$kernel_root/$pkg.partial"
  dpkg-deb -x "$tmp"/"$pkg"_*.deb "$kernel_root/$pkg.partial"
  rm -rf "${kernel_root:?}/$pkg"
  mv "$kernel_root/$pkg.partial" "$kernel_root/$pkg"
  ln -sfn "$pkg" "$kernel_root/current"
fi

echo "setup: building sbx into ./build" >&2
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build
echo "setup: done; the sbx binary is ./build/bin/sbx" >&2
