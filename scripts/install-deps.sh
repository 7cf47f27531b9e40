#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of Sundial from Debian bookworm's
# packages. Idempotent: packages already present are not reinstalled, and apt's index is
# refreshed only when something is missing. Needs root (or sudo) and apt-get.
set -euo pipefail

packages=(
  # toolchain
  build-essential g++ cmake ninja-build pkg-config git clang clang-format clang-tidy
  libclang-rt-14-dev llvm
  # libraries (ARCHITECTURE.md "Dependencies")
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  liblmdb-dev lmdb-utils
  libboost-dev libboost-system-dev libboost-program-options-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libhowardhinnant-date-dev tzdata
  libyaml-cpp-dev prometheus-cpp-dev libcurl4-openssl-dev libssl-dev libzstd-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  python3 python3-pytest python3-requests
  hyperfine time iproute2 procps psmisc curl wrk
  etcd-server etcd-client
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
