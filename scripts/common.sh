# Shared by scripts/up and scripts/test: install what is missing, then build into build/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FRAMEPIPE_BUILD_DIR:-$ROOT/build}

# Debian 12 packages framepipe needs to build, run and test. Installed without recommends, so
# everything used is named here (ca-certificates: npm and git over https).
PACKAGES=(build-essential cmake ninja-build pkg-config git ca-certificates
          cppzmq-dev libzmq3-dev libmsgpack-cxx-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
          libcpp-httplib-dev libsqlite3-dev catch2
          libsodium-dev  # user accounts: tokens, their digests, argon2id password hashes
          libopencv-dev opencv-data
          libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
          libjs-chart.js  # the dashboard's charts
          clang-14 libclang-rt-14-dev
          ffmpeg python3 python3-numpy curl jq iproute2 procps
          chromium nodejs npm  # the browser test: Chromium driven by playwright-core from npm
          prometheus  # promtool for GET /metrics
          slowhttptest)  # the slow-client attacks of integration.attacks

# Packages whose command may come from elsewhere: a machine with Node.js from NodeSource has node and
# npm in its own nodejs package, and Debian's npm cannot be installed beside it.
declare -A COMMAND_OF=([nodejs]=node [npm]=npm)

install_packages() {
  local missing=()
  for package in "${PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" && continue
    [ -n "${COMMAND_OF[$package]:-}" ] && command -v "${COMMAND_OF[$package]}" >/dev/null && continue
    missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  # A configure that stopped midway (a missing package) leaves CMakeCache.txt but no build system:
  # configure again until there is one. An existing cache keeps its generator.
  if [ ! -f "$BUILD/build.ninja" ] && [ ! -f "$BUILD/Makefile" ]; then
    local generator=()
    [ ! -f "$BUILD/CMakeCache.txt" ] && command -v ninja >/dev/null && generator=(-G Ninja)
    cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
  fi
  cmake --build "$BUILD" --parallel "$(nproc)"
}
