#!/bin/sh
# Install Kindred for the current user, from the unpacked archive this script is in:
#   the app          -> ~/.local/opt/Kindred
#   the launcher     -> ~/.local/bin/kindred
#   menu entry, icon and AppStream metainfo -> $XDG_DATA_HOME (default ~/.local/share)
# ./install.sh --uninstall removes exactly those. Your assistants, versions and chats live in
# the data folder (~/.local/share/Kindred, or $KINDRED_HOME) and are never touched by either.
set -eu

APP_ID=io.github.kindred.Kindred
PREFIX="$HOME/.local/opt/Kindred"
BIN_DIR="$HOME/.local/bin"
DATA_DIR="${XDG_DATA_HOME:-$HOME/.local/share}"
DESKTOP="$DATA_DIR/applications/$APP_ID.desktop"
METAINFO="$DATA_DIR/metainfo/$APP_ID.metainfo.xml"
ICON="$DATA_DIR/icons/hicolor/scalable/apps/$APP_ID.svg"
LAUNCHER="$BIN_DIR/kindred"
HERE=$(cd "$(dirname "$0")" && pwd)

say() { printf '%s\n' "$*"; }

refresh_menus() {
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$DATA_DIR/applications" 2>/dev/null || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 \
        && [ -f "$DATA_DIR/icons/hicolor/index.theme" ]; then
        gtk-update-icon-cache -q -t "$DATA_DIR/icons/hicolor" 2>/dev/null || true
    fi
}

uninstall() {
    rm -rf "$PREFIX"
    rm -f "$DESKTOP" "$METAINFO" "$ICON"
    # the launcher only if it is ours (another `kindred` on PATH is left alone)
    if [ -f "$LAUNCHER" ] && grep -q "Kindred launcher" "$LAUNCHER" 2>/dev/null; then
        rm -f "$LAUNCHER"
    fi
    refresh_menus
    say "Kindred was removed. Your data was kept: ${KINDRED_HOME:-$DATA_DIR/Kindred}"
}

install_app() {
    if [ ! -x "$HERE/kindred" ] || [ ! -d "$HERE/_internal" ]; then
        say "install.sh: run it from the unpacked Kindred archive (kindred and _internal/ beside it)." >&2
        exit 1
    fi
    if [ "$HERE" = "$PREFIX" ]; then
        say "install.sh: Kindred is already installed here ($PREFIX)." >&2
        exit 1
    fi
    mkdir -p "$(dirname "$PREFIX")" "$BIN_DIR" "$(dirname "$DESKTOP")" "$(dirname "$METAINFO")" \
        "$(dirname "$ICON")"
    # copy next to the old version, then swap: an interrupted copy leaves the old one working
    rm -rf "$PREFIX.new" "$PREFIX.old"
    mkdir "$PREFIX.new"
    cp -R "$HERE/kindred" "$HERE/_internal" "$HERE/install.sh" "$HERE/share" "$PREFIX.new/"
    if [ -e "$PREFIX" ]; then mv "$PREFIX" "$PREFIX.old"; fi
    mv "$PREFIX.new" "$PREFIX"
    rm -rf "$PREFIX.old"

    cat > "$LAUNCHER" <<EOF
#!/bin/sh
# Kindred launcher (written by install.sh; ./install.sh --uninstall removes it)
exec "$PREFIX/kindred" "\$@"
EOF
    chmod 755 "$LAUNCHER"
    # the menu entry starts the installed app by its full path (~/.local/bin may not be on
    # the PATH the desktop session has)
    sed -e "s|^Exec=kindred|Exec=$PREFIX/kindred|" -e "s|^TryExec=kindred|TryExec=$PREFIX/kindred|" \
        "$HERE/share/applications/$APP_ID.desktop" > "$DESKTOP"
    cp "$HERE/share/metainfo/$APP_ID.metainfo.xml" "$METAINFO"
    cp "$HERE/share/icons/hicolor/scalable/apps/$APP_ID.svg" "$ICON"
    refresh_menus
    say "Kindred is installed in $PREFIX."
    say "Start it from your applications menu, or run: kindred"
    case ":$PATH:" in
        *":$BIN_DIR:"*) ;;
        *) say "($BIN_DIR is not on your PATH: add it, or run $LAUNCHER)" ;;
    esac
    say "Uninstall with: $PREFIX/install.sh --uninstall (your data is kept)"
}

case "${1:-}" in
    --uninstall) uninstall ;;
    "") install_app ;;
    -h|--help) say "usage: ./install.sh [--uninstall]" ;;
    *) say "usage: ./install.sh [--uninstall]" >&2; exit 2 ;;
esac
