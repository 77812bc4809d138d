#!/bin/sh
# Installs the PyTorch peer of bench/knet_table.ts and bench/cpu_gemm.ts: Debian's
# python3-torch (1.13) and the threaded OpenBLAS it then uses (without it, a slow
# generic BLAS). Needs root (or sudo).
set -e
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get install -y python3-torch libopenblas0-pthread
/usr/bin/python3 "$(dirname "$0")/torch_train.py" --info
