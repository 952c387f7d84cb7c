# the command run on the H100 (files under .whl/ are the wheels the image lacks and setup.sh, not in the repo)
source .whl/setup.sh
export PYTHONWARNINGS=ignore
python3 -m stages.config write profile=gpu 'families=[dcgan3]' --params params-gpu-dcgan3.yaml
(set -e; T0=$SECONDS
 for s in prepare featurenet reference_stats outliers trainset; do
   python3 -m stages.$s --params params-gpu-dcgan3.yaml; echo "[$s done at $((SECONDS-T0))s]"; done
 python3 -m stages.train --family dcgan3 --params params-gpu-dcgan3.yaml; echo "[train done at $((SECONDS-T0))s]"
 python3 -m stages.evaluate --family dcgan3 --params params-gpu-dcgan3.yaml; echo "[evaluate done at $((SECONDS-T0))s]"
 cp reports/metrics/dcgan3.json $OUT/metrics_dcgan3.json; cp reports/train/dcgan3/summary.json $OUT/summary_dcgan3.json
 cp reports/featurenet/cifar10.json $OUT/featurenet_cifar10.json; cp reports/samples/dcgan3/grid.png $OUT/grid.png
) 2>&1 | tr '\r' '\n' | grep -v "%|" | tee $OUT/gpu_pipeline_cuda_graph.log
# .whl/setup.sh, sourced first:
#   # sourced at the start of each device call: wheels the GPU image lacks, the GPU profile's params
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
#   export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
#   [ -f params-gpu.yaml ] || python3 -m stages.config write profile=gpu --params params-gpu.yaml >/dev/null || exit 1
#   nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
#   python3 -c "import torch, torchmetrics; print('torch', torch.__version__, 'torchmetrics', torchmetrics.__version__)"
