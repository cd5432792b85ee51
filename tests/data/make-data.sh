#!/bin/sh
# make data: the real-text corpora, made on this machine from Debian's packages (nothing is
# downloaded from elsewhere and nothing is kept in the repository). Writes cleaned UTF-8 files,
# one line of text per line, under data/ (ignored by git); docs/realtext.md describes each one.
#
#   data/kjv.txt        the King James Bible (bible-kjv's `bible` program), one verse a line,
#                       the "Book N" headings and the verse numbers removed
#   data/kjv-ot.txt     the same, Old Testament only (Genesis..Malachi)
#   data/kjv-nt.txt     the same, New Testament only (Matthew..Revelation)
#   data/fortunes.txt   every English fortune of fortunes and fortunes-min but the two ASCII-art
#                       files: the % separators, overstrike (X BACKSPACE Y), control characters
#                       and empty lines removed, tabs made spaces
#   data/jargon.txt     the Jargon File (jargon-text): an English text the recipes were NOT tuned
#                       on; indentation, table rules and empty lines removed
#   data/tang300.txt    Tang poems (fortunes-zh), verse lines only (titles, authors, headings out)
#   data/song100.txt    Song poems (fortunes-zh), the same cleaning
#   data/chinese.txt    the modern Chinese collection (fortunes-zh): colour codes, % separators,
#                       indentation, table rules and empty lines removed
#   data/poems-pretrain.txt  chinese.txt followed by the Tang training lines (every line of
#                       tang300.txt but every 10th, the lines the corpus rule holds out)
#
# Installs what is missing with apt-get (through sudo when not root, saying so); where it cannot,
# prints the command and exits 1. Idempotent: a file is rewritten only when it is missing or older
# than this script. Exit status 0 when every file is there.
set -eu
cd "$(dirname "$0")/../.."
out=data
script=tests/data/make-data.sh
packages="bible-kjv fortunes fortunes-min fortunes-zh jargon-text"
fortune_dir=/usr/share/games/fortunes
jargon_gz=/usr/share/doc/jargon-text/jargon.txt.gz

# ---- 1. the packages ----
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    sh "$(dirname "$script")/../apt-install.sh" "make data" $missing || exit 1
fi

# ---- 2. the files ----
mkdir -p "$out"
export LC_ALL=C.UTF-8
fresh() { [ -s "$1" ] && [ "$1" -nt "$script" ]; }
# write NAME: stdin goes to a temporary name, checked to be UTF-8, then renamed
write() {
    iconv -f UTF-8 -t UTF-8 < "$out/$1.tmp" > /dev/null 2>&1 || { echo "make data: $1 is not valid UTF-8" >&2; exit 1; }
    [ -s "$out/$1.tmp" ] || { echo "make data: $1 came out empty" >&2; exit 1; }
    mv "$out/$1.tmp" "$out/$1"
    echo "make data: wrote $out/$1"
}
esc=$(printf '\033')
bs=$(printf '\010')
nbsp=$(printf '\302\240')
ideo=$(printf '\343\200\200')
# the bible program prints "Book N" headings, empty lines and "  V text" verses (-l: no wrapping)
bible_verses() {
    bible -l100000 "$1" | sed -n 's/^  *[0-9][0-9]* \(.*[^ ]\) *$/\1/p'
}
if ! fresh "$out/kjv.txt"; then bible_verses 'gen1:1-rev22:21' > "$out/kjv.txt.tmp"; write kjv.txt; fi
if ! fresh "$out/kjv-ot.txt"; then bible_verses 'gen1:1-mal4:6' > "$out/kjv-ot.txt.tmp"; write kjv-ot.txt; fi
if ! fresh "$out/kjv-nt.txt"; then bible_verses 'mat1:1-rev22:21' > "$out/kjv-nt.txt.tmp"; write kjv-nt.txt; fi

if ! fresh "$out/fortunes.txt"; then
    files=""
    for p in fortunes fortunes-min; do
        for f in $(dpkg -L "$p" | grep "^$fortune_dir/[^.]*$"); do
            case "$f" in */art|*/ascii-art) ;; *) [ -f "$f" ] && files="$files $f" ;; esac
        done
    done
    # shellcheck disable=SC2086 # the list is split on purpose
    cat $(printf '%s\n' $files | sort -u) |
        sed -e "s/.$bs//g" -e 's/\t/ /g' -e 's/[[:cntrl:]]//g' -e 's/ *$//' |
        grep -v -e '^%$' -e '^$' > "$out/fortunes.txt.tmp"
    write fortunes.txt
fi

if ! fresh "$out/jargon.txt"; then
    # drop the table rules and frames (box-drawing characters), indentation and empty lines
    zcat "$jargon_gz" | grep -v -e '[─━│┃┌┐└┘├┤┬┴┼]' |
        sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e 's/[[:cntrl:]]//g' | grep -v '^$' > "$out/jargon.txt.tmp"
    write jargon.txt
fi

# Chinese poems: the layout (titles in 《》, authors, indented section headings) differs between
# the Tang and Song files, so only the verse lines are kept (chapter 12 tells them apart by words)
for f in tang300 song100; do
    if ! fresh "$out/$f.txt"; then
        sed -e "s/$esc\[[0-9;]*m//g" "$fortune_dir/$f" |
            grep -v -e '^%$' -e '^题目' -e '^《' -e '^作者' -e '^[[:space:]]*$' -e '^[[:space:]]' > "$out/$f.txt.tmp"
        write "$f.txt"
    fi
done
if ! fresh "$out/chinese.txt"; then
    # indentation here is spaces, no-break spaces (U+00A0) and ideographic spaces (U+3000)
    sed -e "s/$esc\[[0-9;]*m//g" -e "s/^\([[:space:]]\|$nbsp\|$ideo\)*//" -e 's/[[:space:]]*$//' "$fortune_dir/chinese" |
        grep -v -e '^%$' -e '^$' -e '[─│┌┐└┘├┤┬┴┼]' > "$out/chinese.txt.tmp"
    write chinese.txt
fi
if ! fresh "$out/poems-pretrain.txt"; then
    { cat "$out/chinese.txt"; awk 'NR % 10 != 0' "$out/tang300.txt"; } > "$out/poems-pretrain.txt.tmp"
    write poems-pretrain.txt
fi

# ---- 3. what is there ----
printf 'make data: %-24s %10s %10s %8s\n' file bytes chars lines
for f in kjv kjv-ot kjv-nt fortunes jargon tang300 song100 chinese poems-pretrain; do
    printf 'make data: %-24s %10d %10d %8d\n' "$out/$f.txt" "$(wc -c < "$out/$f.txt")" "$(wc -m < "$out/$f.txt")" \
        "$(wc -l < "$out/$f.txt")"
done
