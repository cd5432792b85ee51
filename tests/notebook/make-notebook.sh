#!/bin/sh
# make-notebook.sh OUT BINDIR CHAPTER...: the notebook as a web page (docs/notebook.md).
# Runs every CHAPTER (the binary BINDIR/CHAPTER) with --html, its figures under OUT/figures, and
# writes OUT/CHAPTER.html with each section's code cell (the C function that printed it, read from
# chapters/CHAPTER/CHAPTER.c now, so it cannot drift from the code), then OUT/index.html: the
# chapters, what each teaches (its header comment) and its key result (the first sentence of the
# last "Notice:" its run printed). Run from the repository root; needs only sh, awk and the
# chapters (gnuplot for the figures). A chapter on MPI (its source includes dist.h: chapter 14) runs
# under `mpirun -np 2`; without mpirun or without its binary (no mpicc when it was built) the index
# says so in its row, and there is no page. Exit status 1 if a chapter fails.
set -eu
[ $# -ge 3 ] || { echo "usage: $0 OUT BINDIR CHAPTER..." >&2; exit 2; }
out=$1 bindir=$2 here=$(dirname "$0")
shift 2
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export OMP_NUM_THREADS
mkdir -p "$out/figures"

# The function that printed each section, as an HTML code cell after its <!--cell N--> (cells.awk).
cells() { # cells SOURCE LINK < PAGE
    awk -v link="$2" -v prefix="$out/" -v src="$1" -f "$here/cells.awk" "$1" -
}

# What a chapter teaches: its header comment's first sentence, without the name and the sources.
concept() {
    awk 'NR == 1 || (!done && $0 ~ /^ \*/) {
             if ($0 == " *" || $0 ~ /\*\//) done = 1
             sub(/^ *\/?\* ?/, ""); sub(/\*\/.*/, ""); text = text " " $0; if (!done) next }
         { exit } END {
             sub(/^ *[a-z0-9_]+: */, "", text); gsub(/  +/, " ", text); gsub(/ al\. /, " al.\001", text)
             sub(/[,(]? *[Ss]ource document.*/, "", text); sub(/\. .*/, "", text); sub(/[ .,]*$/, "", text)
             gsub(/\001/, " ", text)
             gsub(/&/, "\\&amp;", text); gsub(/</, "\\&lt;", text); print text }' "$1"
}

# The page's last call-out with a number in it (else its last call-out): its first sentence, or its
# first two when the first is too short to say much ("the same bits.").
key_result() {
    grep '<p class="note">' "$1" | sed -e 's/<[^>]*>//g' -e 's/^Notice: *//' |
        awk '{ last = $0 } /[0-9]/ { number = $0 } END {
            s = number != "" ? number : last; cut = 0
            while (match(substr(s, cut + 1), /[.:;] [A-Z(]/)) { cut += RSTART; if (cut >= 40) break }
            if (cut >= 40) s = substr(s, 1, cut)
            if (length(s) > 260) s = substr(s, 1, 257) "..."
            print s }'
}

# Open MPI as the tests start it (tests/test_ch14.c): as root too, more ranks than cores allowed, and
# shared memory copied twice (a container without ptrace rights fails the single-copy path).
mpi_run() {
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
        OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none} \
        mpirun --oversubscribe -q -np 2 "$@"
}

rows="" first=""
for c in "$@"; do
    src=chapters/$c/$c.c
    [ -f "$src" ] || { echo "make-notebook: no chapter $c ($src)" >&2; exit 1; }
    runner=""
    if grep -q '^#include "dist.h"' "$src"; then
        if [ ! -x "$bindir/$c" ] || ! command -v mpirun > /dev/null 2>&1; then
            echo "make-notebook: $c skipped: it runs on MPI, and mpirun or $bindir/$c is missing" >&2
            rows="$rows<tr><td>$c</td><td>$(concept "$src")</td><td class=\"absent\">not on this notebook: it runs on MPI (<code>mpirun -np 2</code>), and Open MPI was missing when the notebook was made (<code>apt-get install openmpi-bin libopenmpi-dev</code>, then <code>make notebook</code> again)</td></tr>
"
            continue
        fi
        runner=mpi_run
    fi
    echo "== $c" >&2
    # the run and the page go to new files of unique names (mktemp: never a file or link that was
    # already there), and the page is renamed into place whole
    run=$(mktemp "$out/.$c.run.XXXXXX") page=$(mktemp "$out/.$c.page.XXXXXX")
    $runner "$bindir/$c" --html --figures "$out/figures" > "$run" ||
        { echo "make-notebook: $c failed" >&2; rm -f "$run" "$page"; exit 1; }
    link=$(realpath --relative-to="$out" "$src")
    cells "$src" "$link" < "$run" > "$page"
    chmod 644 "$page"
    mv "$page" "$out/$c.html"
    rm -f "$run"
    first=${first:-$c}
    rows="$rows<tr><td><a href=\"$c.html\">$c</a></td><td>$(concept "$src")</td><td>$(key_result "$out/$c.html")</td></tr>
"
done

# The index: the page style of a chapter (its <head>), then the table.
[ -n "$first" ] || { echo "make-notebook: no chapter could run" >&2; exit 1; }
index=$(mktemp "$out/.index.XXXXXX")
{
    sed -n '1,/<\/head>/p' "$out/$first.html" | sed 's|<title>.*</title>|<title>The LLM notebook in C</title>|'
    printf '<body>\n<main>\n<h1>The LLM notebook in C</h1>\n'
    printf '<p class="text">Every page below is a chapter'"'"'s own run (<code>--html</code>): the code of each section, what it printed, and its figures. Made by <code>make notebook</code>.</p>\n'
    printf '<table class="toc">\n<tr><th>chapter</th><th>what it teaches</th><th>key result (from its notices)</th></tr>\n%s</table>\n' "$rows"
    printf '</main>\n</body>\n</html>\n'
} > "$index"
chmod 644 "$index"
mv "$index" "$out/index.html"
echo "make-notebook: $out/index.html" >&2
