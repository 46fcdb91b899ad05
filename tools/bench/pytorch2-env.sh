#!/usr/bin/env bash
# Makes (once) and prints the path of a Python with PyTorch 2 from PyPI, for the PyTorch 2
# twins of slab's CPU training benchmarks (tools/bench/train_torch.py --variant ...,
# tools/bench/train_compare.sh): bf16 autocast on the CPU's matrix units and torch.compile
# are PyTorch 2's, and Debian ships torch 1.13. The environment lives outside the
# repository, in $SLAB_PYTORCH2_ENV (default ~/.cache/slab/pytorch2-env); it does not see
# Debian's packages, so its torch is the only one it can import. $SLAB_PYTORCH2_VERSION
# picks the release (default 2.15.0).
#
#   python=$(tools/bench/pytorch2-env.sh)        # then: "$python" tools/bench/train_torch.py ...
#
# How it installs, and why that way: PyPI's Linux torch wheel is a CUDA build, and its
# libtorch.so is linked against CUDA libraries (libcudart, cuDNN, libcufile, libcusparseLt,
# libnvshmem_host, ...), so `pip install --no-deps torch` plus the pure-Python dependencies
# (filelock, typing-extensions, sympy, networkx, jinja2, fsspec) does not import on a
# machine without them: `import torch` stops at "libcufile.so.0: cannot open shared object
# file". PyPI has no CPU-only torch wheel for Linux, so the environment gets torch with all
# its dependencies, the nvidia-* / cuda-* wheels and triton included (never loaded onto a
# GPU here): about 2.9 GB of wheels, 5.4 GB installed.
#
# The cache: `pip download` puts those wheels in $SLAB_PYTORCH2_WHEELS (default
# ~/.cache/slab/pytorch2-wheels) once, and the environment is installed from that folder
# alone (`pip install --no-index --find-links`), so remaking it, or making it on a machine
# (CI) that is handed the folder, downloads nothing. pip's own HTTP cache is not relied on:
# it may be switched off, and it does not say which files a release needs.
#
# Exits non-zero with a message on stderr when it cannot be made (no network, no venv).
set -euo pipefail
env_dir=${SLAB_PYTORCH2_ENV:-$HOME/.cache/slab/pytorch2-env}
version=${SLAB_PYTORCH2_VERSION:-2.15.0}
wheels=${SLAB_PYTORCH2_WHEELS:-$HOME/.cache/slab/pytorch2-wheels}
python="$env_dir/bin/python"
have_torch() {
  [ -x "$python" ] && [ "$("$python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null)" = "$version" ]
}
if ! have_torch; then
  [ -x /usr/bin/python3 ] || { echo "pytorch2-env.sh: /usr/bin/python3 is missing" >&2; exit 1; }
  /usr/bin/python3 -m venv "$env_dir" >&2 \
    || { echo "pytorch2-env.sh: cannot make a virtual environment in $env_dir (apt-get install python3-venv)" >&2; exit 1; }
  # numpy: torch imports without it but warns, and inductor's code paths use it.
  requirements=("torch==$version" numpy)
  if ! "$python" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$wheels" \
      "${requirements[@]}" >/dev/null 2>&1; then
    mkdir -p "$wheels"
    "$python" -m pip download --quiet --disable-pip-version-check -d "$wheels" "${requirements[@]}" >&2 \
      || { echo "pytorch2-env.sh: pip could not download torch==$version into $wheels" >&2; exit 1; }
    "$python" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$wheels" \
      "${requirements[@]}" >&2 \
      || { echo "pytorch2-env.sh: pip could not install torch==$version into $env_dir from $wheels" >&2; exit 1; }
  fi
  have_torch || { echo "pytorch2-env.sh: torch==$version installed in $env_dir but does not import" >&2; exit 1; }
fi
echo "$python"
