#!/usr/bin/env bash
# Makes (once) and prints the path of the Python that slab's checks run with: Debian's
# python3 (which carries python3-torch 1.13 and numpy from `tools/setup.sh --with-torch`)
# in a virtual environment that sees the system packages, plus what Debian does not ship,
# from PyPI: safetensors (PyTorch reading slab's files) and onnxruntime (running exported
# ONNX models). The environment lives outside the repository, in $SLAB_PYTHON_ENV
# (default ~/.cache/slab/python-env), so a clean clone reuses it.
#
#   python=$(tools/python-env.sh)        # then: "$python" script.py
#
# Exits non-zero with a message on stderr when it cannot be made (no network, no venv).
set -euo pipefail
env_dir=${SLAB_PYTHON_ENV:-$HOME/.cache/slab/python-env}
packages=(safetensors onnxruntime)
python="$env_dir/bin/python"
have_all() {
  [ -x "$python" ] && "$python" -c "import safetensors, onnxruntime" 2>/dev/null
}
if ! have_all; then
  [ -x /usr/bin/python3 ] || { echo "python-env.sh: /usr/bin/python3 is missing (tools/setup.sh --with-torch)" >&2; exit 1; }
  /usr/bin/python3 -m venv --system-site-packages "$env_dir" >&2 \
    || { echo "python-env.sh: cannot make a virtual environment in $env_dir (apt-get install python3-venv)" >&2; exit 1; }
  "$python" -m pip install --quiet --disable-pip-version-check "${packages[@]}" >&2 \
    || { echo "python-env.sh: pip could not install ${packages[*]} into $env_dir" >&2; exit 1; }
fi
echo "$python"
