# Shared by scripts/up and scripts/test: install what is missing, then build into build/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FRAMEPIPE_BUILD_DIR:-$ROOT/build}

# Debian 12 packages framepipe needs to build, run and test.
PACKAGES=(build-essential cmake ninja-build pkg-config git
          cppzmq-dev libzmq3-dev libmsgpack-cxx-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
          libcpp-httplib-dev libsqlite3-dev catch2
          libopencv-dev opencv-data
          libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
          clang-14 libclang-rt-14-dev
          ffmpeg python3 python3-numpy curl jq iproute2 procps
          chromium prometheus)  # the browser test (Chromium), promtool for GET /metrics

install_packages() {
  local missing=()
  for package in "${PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
  fi
  cmake --build "$BUILD" --parallel "$(nproc)"
}
