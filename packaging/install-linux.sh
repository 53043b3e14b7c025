#!/usr/bin/env bash
# Install a DCLIP build for the current user, into ~/.local (PREFIX=... to change), or remove it.
#
#   ./install.sh                 from an unpacked build folder (build.sh copies this script there)
#   packaging/install-linux.sh dist/dclip-slim
#   ./install.sh --uninstall     remove what an install put there (your library and settings stay)
#
# Puts the build in PREFIX/lib/dclip, `dclip` and `dclip-app` in PREFIX/bin, the desktop entry in
# PREFIX/share/applications, the icon in the hicolor theme (PNG sizes and SVG) and the AppStream
# metainfo in PREFIX/share/metainfo. Nothing needs root.
set -euo pipefail
PREFIX=${PREFIX:-$HOME/.local}
APP_ID=org.dclip.DCLIP
LIB=$PREFIX/lib/dclip
SIZES=(16 24 32 48 64 128 256 512)

installed_files() {
    echo "$PREFIX/bin/dclip" "$PREFIX/bin/dclip-app"
    echo "$PREFIX/share/applications/$APP_ID.desktop" "$PREFIX/share/metainfo/$APP_ID.metainfo.xml"
    echo "$PREFIX/share/icons/hicolor/scalable/apps/$APP_ID.svg"
    for size in "${SIZES[@]}"; do echo "$PREFIX/share/icons/hicolor/${size}x${size}/apps/$APP_ID.png"; done
}

refresh_caches() {
    command -v update-desktop-database >/dev/null && update-desktop-database -q "$PREFIX/share/applications" || true
    command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$PREFIX/share/icons/hicolor" || true
}

if [[ ${1:-} == --uninstall ]]; then
    # shellcheck disable=SC2046 - the list is paths without spaces under PREFIX
    rm -f $(installed_files)
    rm -rf "$LIB"
    refresh_caches
    echo "DCLIP removed from $PREFIX (the library and settings in your data folders are kept)"
    exit 0
fi

BUILD=$(cd "${1:-$(dirname "$0")}" && pwd)
[[ -x $BUILD/dclip-app && -x $BUILD/dclip ]] || { echo "install: $BUILD is not a DCLIP build (no dclip-app)" >&2; exit 1; }
RES=$BUILD/_internal/dclip_resources
[[ -d $RES ]] || { echo "install: $BUILD has no _internal/dclip_resources" >&2; exit 1; }

mkdir -p "$PREFIX/bin" "$PREFIX/lib" "$PREFIX/share/applications" "$PREFIX/share/metainfo" \
    "$PREFIX/share/icons/hicolor/scalable/apps"
if [[ $BUILD != "$LIB" ]]; then
    rm -rf "$LIB.new" && cp -a "$BUILD" "$LIB.new" && rm -rf "$LIB" && mv "$LIB.new" "$LIB"
fi
ln -sf "$LIB/dclip" "$PREFIX/bin/dclip"
ln -sf "$LIB/dclip-app" "$PREFIX/bin/dclip-app"
# Exec and TryExec by absolute path: ~/.local/bin is not on every session's PATH.
sed -e "s|^Exec=dclip-app|Exec=$PREFIX/bin/dclip-app|" -e "s|^TryExec=dclip-app|TryExec=$PREFIX/bin/dclip-app|" \
    "$RES/desktop/$APP_ID.desktop" >"$PREFIX/share/applications/$APP_ID.desktop"
cp "$RES/desktop/$APP_ID.metainfo.xml" "$PREFIX/share/metainfo/"
cp "$RES/icons/dclip.svg" "$PREFIX/share/icons/hicolor/scalable/apps/$APP_ID.svg"
for size in "${SIZES[@]}"; do
    mkdir -p "$PREFIX/share/icons/hicolor/${size}x${size}/apps"
    cp "$RES/icons/png/dclip-$size.png" "$PREFIX/share/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
refresh_caches
echo "DCLIP installed in $LIB; run dclip-app (or find DCLIP in your applications menu)"
[[ :$PATH: == *":$PREFIX/bin:"* ]] || echo "note: $PREFIX/bin is not on your PATH; add it to use dclip in a terminal"
