#!/bin/sh
# screenshot.sh: render the notebook of three quick chapters in headless Chromium (Debian's
# `chromium`), index.html and one chapter page to PNG under build/notebook-shots/, and fail if a page
# is blank (its PNG is tiny: a blank page compresses to a few kilobytes), if Chromium logs any
# console message (the pages have no script: any message is an error), or if a file the page
# points at (a figure, a link) is missing. Chromium does not log an image it could not load, so
# that is checked on the page's own references. Run from the repository root after
# `make`; .ci/run calls it. The notebook goes to build/notebook-ci, not notebook/.
set -eu
command -v chromium > /dev/null || { echo "screenshot: chromium is not installed" >&2; exit 1; }
out=build/notebook-ci shots=build/notebook-shots
rm -rf "$out" "$shots"
mkdir -p "$shots"
sh tests/notebook/make-notebook.sh "$out" . ch03_self_attention ch04_masked_attention ch07_layer_norm 2> /dev/null
status=0
for page in index ch04_masked_attention; do
    png=$shots/$page.png log=$shots/$page.log
    timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,2400 \
        --enable-logging=stderr --v=0 --screenshot="$png" "file://$(pwd)/$out/$page.html" > "$log" 2>&1 || true
    size=$(wc -c < "$png" 2> /dev/null || echo 0)
    if [ "$size" -lt 30000 ]; then
        echo "screenshot: $page.html looks blank ($png is $size bytes)"; status=1
    fi
    for ref in $(grep -o -E '(src|srcset|href)="[^"#]+' "$out/$page.html" | sed 's/^[a-z]*="//'); do
        [ -s "$out/$ref" ] || { echo "screenshot: $page.html points at $ref, which is missing"; status=1; }
    done
    if grep -E ':CONSOLE|ERR_FILE_NOT_FOUND' "$log"; then
        echo "screenshot: $page.html logged an error or a missing file (see $log)"; status=1
    fi
    echo "screenshot: $png ($size bytes)"
done
exit $status
