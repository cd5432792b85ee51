#!/bin/sh
# make valgrind: memcheck over the test runner (not its forked children) and over every chapter,
# the training chapters with small sizes. Exit status 1 at the first error or definite leak.
bindir=$1
runner=$2
command -v valgrind >/dev/null 2>&1 || { echo "make valgrind: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
vg="valgrind -q --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite,indirect"
fail=0
check() {
    echo "== $*"
    # shellcheck disable=SC2086
    $vg "$@" > /dev/null || { echo "make valgrind: errors in: $*" >&2; fail=1; }
}
# Check forks each test; valgrind follows the forks (not the exec'd chapters). Code under memcheck
# runs some 20-50 times slower, so each test's time limit is stretched as much.
export CK_TIMEOUT_MULTIPLIER=50
check "$runner"
small="--lines 1000 --no-plot"
for c in ch01_ngram ch03_self_attention ch04_masked_attention ch05_multi_head_attention \
         ch06_positional_encoding ch07_layer_norm ch08_feed_forward_residual ch09_transformer_block; do
    [ -x "$bindir/$c" ] || continue
    case $c in ch01_ngram) check "$bindir/$c" $small ;; *) check "$bindir/$c" --no-plot ;; esac
done
[ -x "$bindir/ch02_neural_lm" ] && check "$bindir/ch02_neural_lm" $small --steps 20 --eval-every 10
[ -x "$bindir/ch10_gpt_pretraining" ] && check "$bindir/ch10_gpt_pretraining" $small --steps 5 --eval-every 5 \
    --layers 1 --d-model 16 --heads 2 --context 16 --sample 1
[ -x "$bindir/ch11_masked_lm" ] && check "$bindir/ch11_masked_lm" $small --steps 5 --eval-every 5 \
    --layers 1 --d-model 16 --heads 2 --context 16
[ -x "$bindir/ch12_fine_tuning" ] && check "$bindir/ch12_fine_tuning" $small --pretrain-steps 5 --ft-steps 2 --seeds 1
[ -x "$bindir/ch00_tokenization" ] && check "$bindir/ch00_tokenization" $small --vocab-size 300
for t in corpus checkpoint cli bpe; do # every saved fuzz input, through the replaying targets
    [ -x "$bindir/../fuzz/replay_$t" ] && check "$bindir/../fuzz/replay_$t" tests/fuzz/seeds/$t tests/fuzz/regress/$t
done
exit $fail
