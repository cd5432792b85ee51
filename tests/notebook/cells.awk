# cells.awk: a chapter's page with a code cell under each section (make-notebook.sh, docs/notebook.md).
#   awk -v link=LINK -v prefix=OUT/ -v src=SOURCE -f cells.awk SOURCE - < PAGE
# Copies PAGE; after each <!--cell N--> puts the C function of SOURCE that printed section N: the one
# around the print_section call with the number N and the section's title (a chapter may print
# section N from either of two functions, as chapter 12's task does), else a call with the title
# and a number held in a variable (chapter 9's two encoder sections come from one function), else
# the first call with the number N. Figure paths OUT/figures/... are made relative to the page.

function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
function unesc(s) { gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&amp;/, "\\&", s); return s }

# The line of the print_section call that printed section num titled title (0: none found).
function call_line(num, title,    k, key, near, literal, first_literal, variable) {
    key = substr(title, 1, 20)
    first_literal = variable = 0
    for (k = 1; k <= n; k++) {
        if (line[k] !~ /print_section\(/) continue
        literal = line[k] ~ ("print_section\\([^,]*, *" num ",")
        near = line[k] line[k + 1] line[k + 2]
        if (key != "" && index(near, key)) {
            if (literal) return k
            if (!variable && line[k] !~ /print_section\([^,]*, *[0-9]+ *,/) variable = k
        }
        if (literal && !first_literal) first_literal = k
    }
    return variable ? variable : first_literal
}

FNR == NR { line[FNR] = $0; n = FNR; next }
{
    while ((i = index($0, "\"" prefix "figures/")) > 0)
        $0 = substr($0, 1, i) substr($0, i + 1 + length(prefix))
    print
    if (!match($0, /<!--cell [0-9]+-->/)) next
    num = substr($0, RSTART + 9, RLENGTH - 12)
    title = ""
    if (match($0, /<h2>[0-9]+\. /)) {
        title = substr($0, RSTART + RLENGTH)
        sub(/<\/h2>.*/, "", title)
        title = unesc(title)
    }
    at = call_line(num, title)
    if (!at) next
    for (first = at; first > 1 && line[first] !~ /^[A-Za-z_].*\(/; first--) ;
    name = line[first]; sub(/\(.*/, "", name); sub(/.* \**/, "", name)
    for (top = first; top > 1 && line[top - 1] ~ /^(\/\*| \*|\/\/)/; top--) ;
    for (last = first; last < n && line[last] != "}"; last++) ;
    printf "<details class=\"cell\"><summary>code: <code>%s</code>, <a href=\"%s\">%s:%d</a></summary><pre class=\"src\">", esc(name), link, src, first
    for (k = top; k <= last; k++) printf "%s%s", esc(line[k]), (k < last ? "\n" : "")
    print "</pre></details>"
}
