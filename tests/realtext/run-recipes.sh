#!/bin/sh
# Reruns the real-text recipes of docs/realtext.md, each with exactly the command documented there,
# and prints each one's figures next to the n-gram's: validation loss, best n-gram, CPU and wall
# time, and the sampled passages. Not part of `make test` (each recipe's time is in
# docs/realtext.md: minutes to a quarter of an hour each). Run from anywhere:
#
#   sh tests/realtext/run-recipes.sh               every recipe
#   sh tests/realtext/run-recipes.sh kjv jargon    some of them: kjv fortunes jargon poems
#
# Logs go to build/realtext/<recipe>.log, /usr/bin/time -v's report to build/realtext/<recipe>.time,
# the checkpoints to build/realtext/<recipe>.ckpt. The budgets of docs/realtext.md are wall time with
# OMP_NUM_THREADS=2 on an otherwise idle 2-core machine; set THREADS to change the thread count.
set -eu
cd "$(dirname "$0")/../.."
threads=${THREADS:-2}
out=build/realtext
mkdir -p "$out"
make --no-print-directory data > /dev/null
make --no-print-directory ch01 ch10 > /dev/null
recipes=${*:-kjv fortunes jargon poems}

# one run: NAME, then chapter 10's flags (--save and --no-plot are added, as documented); the figures
# that matter, from its output and from /usr/bin/time -v
run() {
    name=$1; shift
    echo "== $name: OMP_NUM_THREADS=$threads /usr/bin/time -v ./ch10_gpt_pretraining $* --save $out/$name.ckpt --no-plot"
    OMP_NUM_THREADS=$threads /usr/bin/time -v -o "$out/$name.time" \
        ./ch10_gpt_pretraining "$@" --save "$out/$name.ckpt" --no-plot > "$out/$name.log"
    sed -n '/^ *step  *train loss/,/^$/p' "$out/$name.log"
    grep -E '^ +(GPT|best n-gram) ' "$out/$name.log" || true
    sed -n '/^10\. /,/^11\. /p' "$out/$name.log" | grep -E '^ +(GPT|n-gram) ' || true
    awk -F': ' '/User time|System time|Elapsed/ { sub(/^[ \t]+/, "", $1); printf "   %s: %s\n", $1, $2 }' "$out/$name.time"
}
# the best n-gram of chapter 1 on the same split (order 6, modified Kneser-Ney), in nats per token
ngram() {
    ./ch01_ngram --corpus "$1" --order 6 --sample 0 --no-plot 2>/dev/null |
        awk '/^perplexity:/ { printf "   chapter 1, order 6, mkn: %.4f nats per token\n", log($2) }'
}

for r in $recipes; do
    case $r in
    kjv) ngram data/kjv.txt; run kjv --preset kjv ;;
    fortunes) ngram data/fortunes.txt; run fortunes --preset fortunes ;;
    jargon) ngram data/jargon.txt; run jargon --preset fortunes --corpus data/jargon.txt ;; # not tuned on
    poems)
        ngram data/poems-pretrain.txt; run poems --preset poems
        ngram data/tang300.txt # then 25 steps on the Tang poems alone, in the checkpoint's vocabulary
        run tang --load "$out/poems.ckpt" --new-text --corpus data/tang300.txt --batch 32 --steps 25 \
            --warmup 5 --lr 0.001 --eval-every 25 --sample 8 ;;
    *) echo "run-recipes: unknown recipe '$r' (kjv fortunes jargon poems)" >&2; exit 2 ;;
    esac
done
