#!/usr/bin/env bash
# Smoke test of the PyInstaller builds: run each built folder the way a person would, offscreen,
# against a temporary home, and exit 0 only when all of it works.
#
#   packaging/smoke.sh                   every build that `make package` left in dist/
#   packaging/smoke.sh dist/dclip-slim   that build only
#   REPEATS=5 packaging/smoke.sh         start-up timings as the median of 5 runs
#
# For each build: `dclip --version`; index six photos (JPEG, PNG, HEIC) with the test-tiny bundle;
# a search that must return them; an explanation (`dclip explain --json`); the app started
# offscreen on that home (icon, stylesheet, SVG plugin, library page; packaging/app_check.py);
# the app running the CLI as a hidden subcommand of itself; and export: it must work in the full
# build and say "slim build" in the slim one. The bundle and photos are made once with the
# development environment (packaging/smoke_fixture.py), since the slim build cannot export.
set -euo pipefail
cd "$(dirname "$0")/.."
DEV_PYTHON=${DEV_PYTHON:-.venv/bin/python}

if (($#)); then BUILDS=("$@"); else BUILDS=(); for b in dist/dclip-slim dist/dclip-full; do
    [[ -x $b/dclip ]] && BUILDS+=("$b"); done; fi
((${#BUILDS[@]})) || { echo "smoke: no build in dist/ (run make package first)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dclip-smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export QT_QPA_PLATFORM=offscreen YOLO_OFFLINE=1
say() { printf '\n== %s\n' "$*"; }
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }
# elapsed LABEL COMMAND...: run it quietly REPEATS times (default 1) and print "LABEL: median
# seconds" (its stderr when it fails). The first run after a build or a fixture is the cold one.
REPEATS=${REPEATS:-1}
elapsed() {
    local label=$1 times=() start i; shift
    for ((i = 0; i < REPEATS; i++)); do
        start=$EPOCHREALTIME
        "$@" >/dev/null 2>"$WORK/elapsed.err" || { cat "$WORK/elapsed.err" >&2; return 1; }
        times+=("$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')")
    done
    printf '%s\n' "${times[@]}" | sort -g | awk -v l="$label" -v n="$REPEATS" \
        '{t[NR]=$1} END{printf "%s: %.2f s (median of %d; %.2f-%.2f)\n", l, t[int((NR+1)/2)], n, t[1], t[NR]}'
}

say "fixture (bundle with explain/, photos, settings)"
"$DEV_PYTHON" packaging/smoke_fixture.py "$WORK/fixture" >/dev/null

say "baseline: the same start-up timings from the development environment (.venv)"
cp -r "$WORK/fixture/home" "$WORK/baseline-home"
DEV_BIN=$(dirname "$DEV_PYTHON")
DCLIP_HOME=$WORK/baseline-home "$DEV_BIN/dclip" index "$WORK/fixture/photos" >/dev/null 2>&1
elapsed "start: dclip --version" "$DEV_BIN/dclip" --version
DCLIP_HOME=$WORK/baseline-home elapsed "start: dclip search" "$DEV_BIN/dclip" search "a blue square" --limit 3
elapsed "start: app (start, window on screen, library opened, quit)" \
    "$DEV_PYTHON" packaging/app_check.py --home "$WORK/baseline-home" --seconds 0

for build in "${BUILDS[@]}"; do
    name=$(basename "$build")
    dclip=$build/dclip app=$build/dclip-app
    run=$WORK/$name
    # A temporary home: nothing is read from or written to the user's real folders.
    mkdir -p "$run/user"
    cp -r "$WORK/fixture/home" "$run/home"
    export HOME=$run/user DCLIP_HOME=$run/home YOLO_CONFIG_DIR=$run/user/ultralytics
    say "$name ($(du -sh "$build" | cut -f1))"

    echo -n "version: "; "$dclip" --version
    elapsed "start: dclip --version" "$dclip" --version

    "$dclip" index "$WORK/fixture/photos" 2>&1 | tail -1
    "$dclip" status --json | python3 -c '
import json, sys
status = json.load(sys.stdin)
assert status["images"] == 6 and status["failed"] == 0, status' || fail "$name: indexing"

    "$dclip" search "a red circle" --json --limit 10 >"$run/search.json"
    python3 - "$run/search.json" <<'PY' || fail "$name: search"
import json, sys
results = json.load(open(sys.argv[1]))["results"]
assert len(results) == 6, results
assert {r["path"].rsplit(".", 1)[1] for r in results} >= {"jpg", "png"}, results
print(f"search: {len(results)} results, top {results[0]['path'].rsplit('/', 1)[1]}")
PY
    elapsed "start: dclip search" "$dclip" search "a blue square" --limit 3

    if "$dclip" --help | grep -q '^ *explain '; then
        "$dclip" explain "$WORK/fixture/photos/red-circle.jpg" "a red circle" \
            --model "$WORK/fixture/bundle" --json --png "$run/overlay.png" >"$run/explain.json"
        python3 - "$run/explain.json" "$run/overlay.png" <<'PY' || fail "$name: explain"
import json, os, sys
data = json.load(open(sys.argv[1]))
assert data["schema"] == "dclip.explain/1", data["schema"]
assert data["regions"] and os.path.getsize(sys.argv[2]) > 0
print(f"explain: {len(data['regions'])} regions, method {data['method']}, overlay written")
PY
    else
        echo "explain: SKIPPED: this build has no 'dclip explain' command"
    fi

    "$app" __dclip-app-check__ --home "$run/home" --seconds 3 --expect-library >"$run/app.json" \
        2>"$run/app.err" || { cat "$run/app.json" "$run/app.err"; fail "$name: the app check"; }
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("app:", {k: r[k] for k in ("icon", "icon_has_pixels", "stylesheet_chars", "page", "shown_s")}, "heic in Qt:", "heic" in r["image_formats"])' "$run/app.json"
    elapsed "start: app (start, window on screen, library opened, quit)" \
        "$app" __dclip-app-check__ --home "$run/home" --seconds 0

    [[ $("$app" __dclip-cli__ --version) == "dclip "* ]] || fail "$name: hidden CLI subcommand"
    echo "hidden subcommand: dclip-app __dclip-cli__ --version works"

    if [[ $name == *slim* ]]; then
        set +e; "$dclip" export --model test-tiny --out "$run/exported" 2>"$run/export.err"; code=$?; set -e
        [[ $code == 3 ]] && grep -q "slim build" "$run/export.err" \
            || { cat "$run/export.err"; fail "$name: export should say it needs the full build"; }
        echo "export: refused with the slim-build message (exit 3)"
    else
        REPEATS=1 elapsed "dclip export --model test-tiny" "$dclip" export --model test-tiny \
            --out "$run/exported" || fail "$name: export"
        [[ -f $run/exported/bundle.json ]] || fail "$name: export wrote no bundle.json"
        echo "export: test-tiny bundle written by the frozen torch"
    fi
done
say "smoke: all builds passed (${BUILDS[*]})"
