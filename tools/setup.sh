#!/usr/bin/env bash
# Installs what slab needs from Debian's packages, only what is missing; quiet when
# nothing is. Idempotent and non-interactive. Pass --with-torch to add python3-torch and
# python3-venv (golden files, benchmark twins, tools/python-env.sh) and --with-data to add
# dataset-fashion-mnist.
# --with-browser adds headless Chromium with its driver and Selenium, for the report's
# browser test (tests/report_browser_test.py).
# --with-fuzz adds clang, its runtime libraries (libFuzzer, the sanitizers) and LLVM's OpenMP for fuzz/.
set -euo pipefail
packages=(build-essential cmake ninja-build libeigen3-dev doctest-dev libstb-dev zlib1g-dev
          libcli11-dev nlohmann-json3-dev)
packages+=(libjpeg62-turbo-dev)  # libjpeg-turbo: JPEG decoding of image folders (data/image_folder.cpp)
for arg in "$@"; do
  case "$arg" in
    --with-torch) packages+=(python3-torch python3-numpy python3-venv) ;;
    --with-data) packages+=(dataset-fashion-mnist) ;;
    --with-browser) packages+=(chromium chromium-driver python3-selenium) ;;
    --with-fuzz) packages+=(clang libclang-rt-dev libomp-dev) ;;  # tools/fuzz.sh
    *) echo "setup.sh: unknown option $arg (expected --with-torch, --with-data, --with-browser or --with-fuzz)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup.sh: installing ${missing[*]}"
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -qq
$sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
