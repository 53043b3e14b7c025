#!/usr/bin/env bash
# Build what a person installs: the wheel + sdist (dist/), and the PyInstaller onedir builds
# dist/dclip-slim/ and dist/dclip-full/ with a .tar.gz of each. `make package` runs this.
#
#   packaging/build.sh                 wheel, sdist, slim and full builds
#   packaging/build.sh wheel           only the wheel and the sdist
#   packaging/build.sh slim|full       the wheel, then that build
#
# Each build gets its own virtual environment under build/package/ (the dev .venv has the CUDA
# torch and onnxruntime-gpu, several GB a build should not carry): the wheel, installed without
# its dependencies, plus packaging/requirements-<variant>.txt. DCLIP_TORCH says where the full
# build's torch comes from (default: the CPU wheels of download.pytorch.org). DCLIP_ARCHIVE=0
# skips the .tar.gz of each build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}            # the interpreter of the build environments
BUILD_PYTHON=${BUILD_PYTHON:-.venv/bin/python}  # one with `build` (the package extra)
DCLIP_TORCH=${DCLIP_TORCH:---extra-index-url https://download.pytorch.org/whl/cpu torch torchvision}
if (($#)); then VARIANTS=("$@"); else VARIANTS=(slim full); fi
mkdir -p build/package dist

say() { printf '\n== %s\n' "$*"; }

say "wheel and sdist"
rm -f dist/dclip-[0-9]*.whl dist/dclip-[0-9]*.tar.gz  # not the builds' archives
"$BUILD_PYTHON" -m build --outdir dist . >build/package-wheel.log 2>&1 \
    || { tail -30 build/package-wheel.log; exit 1; }
WHEEL=$(ls dist/dclip-*.whl)
ls -l "$WHEEL" dist/dclip-*.tar.gz
VERSION=$(basename "$WHEEL" | cut -d- -f2)

for variant in "${VARIANTS[@]}"; do
    [[ $variant == wheel ]] && continue
    say "$variant build"
    venv=build/package/venv-$variant
    if [[ ! -x $venv/bin/pyinstaller ]]; then
        "$PYTHON" -m venv "$venv"
        "$venv/bin/pip" install -q -r packaging/requirements-slim.txt "pyinstaller>=6.5"
        if [[ $variant == full ]]; then
            # shellcheck disable=SC2086 - DCLIP_TORCH is a list of pip arguments
            "$venv/bin/pip" install -q $DCLIP_TORCH
            "$venv/bin/pip" install -q -r packaging/requirements-full.txt
        fi
    fi
    # The wheel without its dependencies: they are the variant's requirements, not onnxruntime-gpu
    # and the CUDA torch that pyproject.toml asks for on Linux.
    "$venv/bin/pip" install -q --no-deps --force-reinstall "$WHEEL"
    start=$(date +%s)
    DCLIP_VARIANT=$variant "$venv/bin/pyinstaller" --noconfirm --log-level WARN \
        --distpath dist --workpath "build/pyinstaller-$variant" packaging/dclip.spec
    echo "built dist/dclip-$variant in $(($(date +%s) - start)) s"
    cp packaging/install-linux.sh "dist/dclip-$variant/install.sh"
    du -sh "dist/dclip-$variant"
    if [[ ${DCLIP_ARCHIVE:-1} == 1 ]]; then  # DCLIP_ARCHIVE=0 skips the archive (minutes for full)
        archive=dist/dclip-$variant-$VERSION-linux-$(uname -m).tar.gz
        tar -C dist -czf "$archive" "dclip-$variant"
        du -sh "$archive"
    fi
done
