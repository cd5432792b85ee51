#!/bin/sh
# Reruns the real-text recipes of docs/realtext.md and prints each one's figures next to the n-gram's:
# validation loss, best n-gram, CPU and wall time, and the sampled passages. Not part of `make test`
# (about an hour on an idle 2-core machine). Run from anywhere:
#
#   sh tests/realtext/run-recipes.sh              every recipe
#   sh tests/realtext/run-recipes.sh kjv jargon   some of them: kjv fortunes jargon poems
#
# Logs go to build/realtext/<recipe>.log, the checkpoints to build/realtext/<recipe>.ckpt. Set
# THREADS (default 2) for OMP_NUM_THREADS; on a shared machine keep it at 1 and the run niced.
set -eu
cd "$(dirname "$0")/../.."
threads=${THREADS:-2}
out=build/realtext
mkdir -p "$out"
make --no-print-directory data > /dev/null
make --no-print-directory ch01 ch10 > /dev/null
recipes=${*:-kjv fortunes jargon poems}

# one run: NAME, then chapter 10's flags; the figures that matter, from its output and /usr/bin/time
run() {
    name=$1; shift
    echo "== $name: ./ch10_gpt_pretraining $*"
    OMP_NUM_THREADS=$threads /usr/bin/time -f '%U %S %e' -o "$out/$name.time" \
        nice -n 10 ./ch10_gpt_pretraining "$@" --save "$out/$name.ckpt" --no-plot > "$out/$name.log"
    grep -E '^ +(GPT|best n-gram|n-gram) ' "$out/$name.log" || true
    read -r user sys wall < "$out/$name.time"
    echo "   CPU $(echo "$user + $sys" | bc) s (user + system), wall $wall s, $threads thread(s)"
}
# the best n-gram of chapter 1 on the same split (n = 1..6, modified Kneser-Ney), in nats per char
ngram() {
    ./ch01_ngram --corpus "$1" --order 6 --sample 0 --no-plot 2>/dev/null |
        awk '/^perplexity:/ { printf "   chapter 1, order 6, mkn: %.4f nats per token\n", log($2) }'
}

for r in $recipes; do
    case $r in
    kjv) ngram data/kjv.txt; run kjv --preset kjv ;;
    fortunes) ngram data/fortunes.txt; run fortunes --preset fortunes ;;
    jargon) ngram data/jargon.txt; run jargon --preset kjv --corpus data/jargon.txt ;; # not tuned on
    poems)
        ngram data/poems-pretrain.txt; run poems --preset poems
        ngram data/tang300.txt ;;
    *) echo "run-recipes: unknown recipe '$r' (kjv fortunes jargon poems)" >&2; exit 2 ;;
    esac
done
