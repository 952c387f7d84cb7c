#!/usr/bin/env bash
# The ablation table on a machine that has PyTorch but no DVC (such as a lent GPU box):
# compose each override set into its own params file, run the stages in dvc.yaml's order
# with it, and keep each run's params and metrics under RUNS/<name>/. Then, anywhere:
#   python -m stages.ablations --runs-dir RUNS --out reports/ablations-gpu
# Usage: scripts/ablations_without_dvc.sh RUNS "common overrides" name="overrides" ...
#   e.g. scripts/ablations_without_dvc.sh runs "profile=gpu families=[dcgan3]" \
#        baseline= cosine="train.lr_schedule=cosine"
# The run named `baseline` is the reference; train/evaluate resume from their checkpoints,
# so an interrupted call picks up where it stopped.
set -euo pipefail
runs=$1
common=$2
shift 2
mkdir -p "$runs"
declare -A stage_params=(  # as in dvc.yaml; a later stage reruns when an earlier one did
    [prepare]="data"
    [featurenet]="data featurenet"
    [reference_stats]="data featurenet eval.backbone eval.inception_weights eval.reference_split eval.n_reference eval.seed"
    [outliers]="data outliers"
    [trainset]="data outliers extra oversample"
)
fingerprint_py='
import hashlib, json, sys, yaml
params = yaml.safe_load(open(sys.argv[1]))
def get(key):
    value = params
    for part in key.split("."):
        value = value[part]
    return value
print(hashlib.sha256(json.dumps({k: get(k) for k in sys.argv[2:]}, sort_keys=True).encode()).hexdigest())
'
run_if_changed() {  # STAGE "KEYS" OUTPUT COMMAND...: run COMMAND unless OUTPUT exists and
    # KEYS of $dir/params.yaml are as when it was written
    local stage=$1 keys=$2 output=$3 fingerprint
    shift 3
    # shellcheck disable=SC2086  # keys are whitespace-separated on purpose
    fingerprint=$(python -c "$fingerprint_py" "$dir/params.yaml" $keys)
    if [ ! -e "$output" ] || [ "$(cat "$runs/.last-$stage" 2>/dev/null)" != "$fingerprint" ]; then
        "$@"
        echo "$fingerprint" >"$runs/.last-$stage"
    fi
}
for spec in "$@"; do
    name=${spec%%=*}
    overrides=${spec#*=}
    dir=$runs/$name
    if [ -f "$dir/done" ]; then echo "== $name: done before"; continue; fi
    mkdir -p "$dir/metrics"
    # shellcheck disable=SC2086  # overrides are whitespace-separated on purpose
    python -m stages.config write $common $overrides --params "$dir/params.yaml"
    start=$SECONDS
    # without DVC's cache, a data stage reruns only when the params it reads changed
    data=$(python -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['data']['name'])" "$dir/params.yaml")
    declare -A stage_output=(  # the outs of dvc.yaml
        [prepare]=data/prepared/$data [featurenet]=artifacts/featurenet/$data.pt
        [reference_stats]=data/reference_stats/$data [outliers]=data/filtered/$data [trainset]=data/trainset/$data
    )
    for stage in prepare featurenet reference_stats outliers trainset; do
        caps=()  # dvc.yaml runs the featurenet on the AVX2 code paths, so its bytes do not depend on the CPU
        if [ "$stage" = featurenet ]; then
            caps=(env ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2)
        fi
        run_if_changed "$stage" "${stage_params[$stage]}" "${stage_output[$stage]}" \
            "${caps[@]}" python -m "stages.$stage" --params "$dir/params.yaml"
    done
    families=$(python -c "import sys, yaml; print(' '.join(yaml.safe_load(open(sys.argv[1]))['families']))" "$dir/params.yaml")
    for family in $families; do
        run_if_changed "train-$family" "${stage_params[trainset]} train models.$family" "artifacts/$family/generator.pt" \
            python -m stages.train --family "$family" --params "$dir/params.yaml"
        python -m stages.evaluate --family "$family" --params "$dir/params.yaml"
        cp "reports/metrics/$family.json" "reports/metrics/$family.protocol.json" "$dir/metrics/"
    done
    echo "== $name: $((SECONDS - start)) s"
    touch "$dir/done"
done
