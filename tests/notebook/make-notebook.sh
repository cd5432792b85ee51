#!/bin/sh
# make-notebook.sh OUT BINDIR CHAPTER...: the notebook as a web page (docs/notebook.md).
# Runs every CHAPTER (the binary BINDIR/CHAPTER) with --html, its figures under OUT/figures, and
# writes OUT/CHAPTER.html with each section's code cell (the C function that printed it, read from
# chapters/CHAPTER/CHAPTER.c now, so it cannot drift from the code), then OUT/index.html: the
# chapters, what each teaches (its header comment) and its key result (the first sentence of the
# last "Notice:" its run printed). Run from the repository root; needs only sh, awk and the
# chapters (gnuplot for the figures). Exit status 1 if a chapter fails.
set -eu
[ $# -ge 3 ] || { echo "usage: $0 OUT BINDIR CHAPTER..." >&2; exit 2; }
out=$1 bindir=$2
shift 2
mkdir -p "$out/figures"

# The function around each section's print_section call, as an HTML code cell after <!--cell N-->.
# Figure paths are made relative to the page (the chapter printed them as OUT/figures/...).
cells() { # cells SOURCE LINK PAGE
    awk -v link="$2" -v prefix="$out/" -v src="$1" '
    function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
    FNR == NR { line[FNR] = $0; n = FNR; next }
    {
        while ((i = index($0, "\"" prefix "figures/")) > 0)
            $0 = substr($0, 1, i) substr($0, i + 1 + length(prefix))
        print
        if (!match($0, /<!--cell [0-9]+-->/)) next
        num = substr($0, RSTART + 9, RLENGTH - 12)
        at = 0
        for (k = 1; k <= n && !at; k++)
            if (line[k] ~ ("print_section\\([^,]*, *" num ","))
                at = k
        if (!at) next
        for (first = at; first > 1 && line[first] !~ /^[A-Za-z_].*\(/; first--) ;
        name = line[first]; sub(/\(.*/, "", name); sub(/.* \**/, "", name)
        for (top = first; top > 1 && line[top - 1] ~ /^(\/\*| \*|\/\/)/; top--) ;
        for (last = first; last < n && line[last] != "}"; last++) ;
        printf "<details class=\"cell\"><summary>code: <code>%s</code>, <a href=\"%s\">%s:%d</a></summary><pre class=\"src\">", esc(name), link, src, first
        for (k = top; k <= last; k++) printf "%s%s", esc(line[k]), (k < last ? "\n" : "")
        print "</pre></details>"
    }' "$1" -
}

# What a chapter teaches: its header comment's first sentence, without the name and the sources.
concept() {
    awk 'NR == 1 || (!done && $0 ~ /^ \*/) {
             if ($0 == " *" || $0 ~ /\*\//) done = 1
             sub(/^\/?\* ?/, ""); sub(/\*\/.*/, ""); text = text " " $0; if (!done) next }
         { exit } END {
             sub(/^ *[a-z0-9_]+: */, "", text)
             sub(/[,(]? *[Ss]ource document.*/, "", text); sub(/\. .*/, "", text); sub(/[ .,]*$/, "", text)
             gsub(/&/, "\\&amp;", text); gsub(/</, "\\&lt;", text); print text }' "$1"
}

# The page's last call-out, its first sentence.
key_result() {
    grep '<p class="note">' "$1" | tail -n 1 | sed -e 's/<[^>]*>//g' -e 's/^Notice: *//' |
        awk '{ s = $0; if (match(s, /[.:;] [A-Z(]/)) s = substr(s, 1, RSTART); if (length(s) > 260) s = substr(s, 1, 257) "..."; print s }'
}

rows=""
for c in "$@"; do
    src=chapters/$c/$c.c
    [ -f "$src" ] || { echo "make-notebook: no chapter $c ($src)" >&2; exit 1; }
    echo "== $c" >&2
    OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$bindir/$c" --html --figures "$out/figures" > "$out/$c.html.tmp" ||
        { echo "make-notebook: $c failed" >&2; rm -f "$out/$c.html.tmp"; exit 1; }
    link=$(realpath --relative-to="$out" "$src")
    cells "$src" "$link" < "$out/$c.html.tmp" > "$out/$c.html.tmp2"
    mv "$out/$c.html.tmp2" "$out/$c.html"
    rm -f "$out/$c.html.tmp"
    rows="$rows<tr><td><a href=\"$c.html\">$c</a></td><td>$(concept "$src")</td><td>$(key_result "$out/$c.html")</td></tr>
"
done

# The index: the page style of a chapter (its <head>), then the table.
first=$1
{
    sed -n '1,/<\/head>/p' "$out/$first.html" | sed 's|<title>.*</title>|<title>The LLM notebook in C</title>|'
    printf '<body>\n<main>\n<h1>The LLM notebook in C</h1>\n'
    printf '<p class="text">Every page below is a chapter'"'"'s own run (<code>--html</code>): the code of each section, what it printed, and its figures. Made by <code>make notebook</code>.</p>\n'
    printf '<table class="toc">\n<tr><th>chapter</th><th>what it teaches</th><th>key result (its last notice)</th></tr>\n%s</table>\n' "$rows"
    printf '</main>\n</body>\n</html>\n'
} > "$out/index.html.tmp"
mv "$out/index.html.tmp" "$out/index.html"
echo "make-notebook: $out/index.html" >&2
