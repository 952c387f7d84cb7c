# Two commands on a fresh machine: `make repro` (set up, then the whole pipeline) and
# `make test` (set up, then the tests). Both are idempotent. `make smoke`: a quick end-to-end run.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SHARED_CIFAR := ../shared/data/cifar10-jpg
RAW_CIFAR := data/raw/cifar10
SHARED_MONET := ../shared/data/monet-kaggle
RAW_MONET := data/raw/monet
# stage commands call `python`: the venv's
export PATH := $(abspath $(VENV))/bin:$(PATH)

# NUMERICS=avx2 holds PyTorch's own kernels, oneDNN and MKL to their AVX2 code paths, so that
# a CPU with AVX-512 trains to the bytes an AVX2-only one does (checked on AMD EPYC against
# the committed dvc.lock; not on an Intel Xeon: docs/reproducibility.md). Every make target
# that runs stages obeys it; for `dvc exp run` by hand, export the three variables. The
# featurenet stage sets them itself.
NUMERICS ?= native
ifeq ($(NUMERICS),avx2)
export ATEN_CPU_CAPABILITY := avx2
export ONEDNN_MAX_CPU_ISA := AVX2
export MKL_ENABLE_INSTRUCTIONS := AVX2
else ifneq ($(NUMERICS),native)
$(error NUMERICS=$(NUMERICS): expected native or avx2)
endif

.PHONY: numerics setup data repro smoke smoke-all table table-gpu objects cifar-net test test-fast check bench lint clean-checkpoints ablations-queue ablations sample translate

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# which code path PyTorch's own kernels take here, and the caps NUMERICS set
numerics:
	@$(PY) -c "import os, torch; print('ATen', torch.backends.cpu.get_cpu_capability(), '|', \
		' '.join(f'{k}={os.environ.get(k, \"-\")}' for k in ('ONEDNN_MAX_CPU_ISA', 'MKL_ENABLE_INSTRUCTIONS')))"

# CIFAR-10 as a user with the data has it: the shared JPEG archives copied into data/raw/.
# Without them, `prepare` downloads CIFAR-10 with torchvision (needs a network).
# The Kaggle Monet paintings and photos unpacked into data/raw/monet/{monet_jpg,photo_jpg}/.
data:
	mkdir -p $(RAW_CIFAR)
	@if [ -z "$$(ls -A $(RAW_CIFAR) | grep -v '^README.md$$')" ] && [ -d $(SHARED_CIFAR) ]; then \
		cp $(SHARED_CIFAR)/*.tar.gz $(RAW_CIFAR)/ && echo "copied $(SHARED_CIFAR) into $(RAW_CIFAR)"; fi
	mkdir -p $(RAW_MONET)
	@for archive in $(SHARED_MONET)/*.tar.gz; do \
		folder=$$(basename $$archive .tar.gz | sed 's/_first2000//'); \
		if [ -f $$archive ] && [ ! -d $(RAW_MONET)/$$folder ]; then \
			tar -xzf $$archive -C $(RAW_MONET) && echo "unpacked $$archive into $(RAW_MONET)"; fi; done

repro: setup data
	$(VENV)/bin/dvc repro

# The GAN path (prepare .. report) for one family on generated shapes (data=shapes,
# profile=smoke), every stage forced, in a temporary copy of the repository: the workspace
# stays as it is, and `dvc exp show` lists the run. smoke-all: every stage.
smoke: setup
	$(VENV)/bin/dvc exp run --temp -f -S data=shapes -S profile=smoke -S 'families=[dcgan3]' report

smoke-all: setup
	$(VENV)/bin/dvc exp run --temp -S data=shapes -S profile=smoke

# Every family at one equal budget on CIFAR-10 (conf/profile/table.yaml), as an experiment in
# this workspace, so an interrupted run resumes where it stopped when run again (finished
# stages are skipped, the family in training resumes from its checkpoint). Then
# reports/table/ gets the leaderboard, each family's sample grid, samples.png (a row of each
# family, best FID first) and the machine and duration of this invocation.
# `git checkout params.yaml dvc.lock && dvc checkout` returns to the commit (an interrupted
# `dvc exp run` can leave git on a detached HEAD: `git checkout main` first).
# SEED=n trains every family with training seed n and writes reports/table-seedn/ instead.
SEED ?= 0
TABLE_DIR = reports/table$(if $(filter-out 0,$(SEED)),-seed$(SEED))
table: setup data
	@start=$$(date +%s); $(VENV)/bin/dvc exp run -S profile=table -S train.seed=$(SEED) && \
	rm -rf $(TABLE_DIR) && mkdir -p $(TABLE_DIR) && \
	sed 's| (10 more grids of 100 in samples/[a-z0-9_]*/)||' reports/leaderboard.md > $(TABLE_DIR)/leaderboard.md && \
	cp reports/leaderboard.csv $(TABLE_DIR)/ && \
	for family in $$($(PY) -c "import yaml; print(' '.join(yaml.safe_load(open('params.yaml'))['families']))"); do \
		mkdir -p $(TABLE_DIR)/samples/$$family && cp reports/samples/$$family/grid.png $(TABLE_DIR)/samples/$$family/; done && \
	$(PY) scripts/table_samples.py $(TABLE_DIR) && \
	$(call RUN_TXT,$(TABLE_DIR))

# run.txt of a results folder: this machine, the commit, the seed and the seconds since the
# recipe set the shell variable start
RUN_TXT = printf 'machine: %s, %s cores, with %s\ncommit: %s, training seed %s\nseconds of this invocation: %s\n' \
	"$$(lscpu | sed -n 's/^Model name: *//p')" "$$(nproc)" \
	"$$(grep -o -w 'avx2\|avx512f\|avx512_bf16\|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')" \
	"$$(git rev-parse --short HEAD)" "$(SEED)" "$$(( $$(date +%s) - start ))" > $(1)/run.txt && cat $(1)/run.txt

# The default CPU profile's SNGAN shown 409,600 images, 6.4 times `make repro`'s, the number
# after which its samples start to hold objects (README), with bf16 autocast where the CPU has
# it natively (fp32 elsewhere: about 2x as long on an AMX Xeon, some 77 minutes of training on
# an AVX2-only EPYC, an estimate). Then reports/objects/ gets its grid, scores, FID curve, and
# the machine and duration of this invocation. FAMILY=sngan_projection trains the
# class-conditional SNGAN instead (the CPU profile gives it SNGAN's width and DiffAugment), into
# reports/objects-sngan_projection/. Returning to the commit, and resuming an interrupted run:
# as for `make table`.
FAMILY ?= sngan
OBJECTS_DIR = reports/objects$(if $(filter-out sngan,$(FAMILY)),-$(FAMILY))$(if $(filter-out 0,$(SEED)),-seed$(SEED))
objects: setup data
	@start=$$(date +%s); $(VENV)/bin/dvc exp run -S 'families=[$(FAMILY)]' -S models.$(FAMILY).steps=12800 \
		-S train.amp=auto -S train.fid_every=1600 -S train.seed=$(SEED) && \
	rm -rf $(OBJECTS_DIR) && mkdir -p $(OBJECTS_DIR) && \
	cp reports/samples/$(FAMILY)/grid.png $(OBJECTS_DIR)/ && \
	cp reports/metrics/$(FAMILY).json $(OBJECTS_DIR)/metrics.json && \
	cp reports/fid_curve/$(FAMILY).csv $(OBJECTS_DIR)/fid_curve.csv && \
	$(call RUN_TXT,$(OBJECTS_DIR))

# Every family on one GPU, in one process (scripts/gpu_table.py: no DVC needed there): the
# largest step count, the same for all, at which the 17 and two more seeds of the best three
# fit in BUDGET seconds (`profile=table_gpu`: the GPU profile's training, `make table`'s
# evaluation). It writes the pipeline's outputs in this workspace as `dvc repro` would
# (`dvc checkout` returns to the committed ones) and its tables to reports/table-gpu/.
BUDGET ?= 480
table-gpu: setup data
	$(PY) -m stages.config write profile=table_gpu --params artifacts/params-table-gpu.yaml
	$(PY) scripts/gpu_table.py --params artifacts/params-table-gpu.yaml --budget-seconds $(BUDGET) \
		--out reports/table-gpu

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

# What CI checks after the tests: params.yaml is the composition of conf/, dvc.lock is current.
check: setup data
	$(PY) -m stages.config check
	$(PY) .ci/check_pipeline.py

# The GAN-101 slides' improvement table (plus DiffAugment and the DCGAN assignment's step schedule) for
# one family: each line queues experiments one override away from the committed baseline,
# each for SEEDS training seeds (0 .. SEEDS-1), and the baseline's seeds,
# so `make ablations` can give every row a mean, an interval and a verdict.
# Queued runs see only git-tracked files, hence --copy-paths for the raw data. Then
# `dvc queue start` (one worker: 2 cores), and `make ablations` when `dvc queue status` is done.
FAMILY ?= dcgan3
SEEDS ?= 3
SEED_LIST = $(shell seq -s, 0 $$(($(SEEDS) - 1)))
EXTRA_SEEDS = $(shell seq -s, 1 $$(($(SEEDS) - 1)))
# the commit is the baseline's seed 0 only for a family it trains (the CPU profile trains
# sngan): for another FAMILY, seed 0 is queued too
COMMIT_FAMILIES = $(shell sed -n '/^families:/,/^[a-z]/s/^- //p' params.yaml)
BASE_SEEDS = $(if $(filter $(FAMILY),$(COMMIT_FAMILIES)),$(EXTRA_SEEDS),$(SEED_LIST))
# the raw CIFAR-10 files one by one: the folder itself is in git (its README), and DVC will
# not copy a folder onto one that exists
RAW_CIFAR_FILES = $(filter-out $(RAW_CIFAR)/README.md,$(wildcard $(RAW_CIFAR)/*))
QUEUE_ONE = $(VENV)/bin/dvc exp run --queue $(foreach f,$(RAW_CIFAR_FILES),--copy-paths $(f)) --copy-paths $(RAW_MONET) \
	-S 'families=[$(FAMILY)]'
QUEUE = $(QUEUE_ONE) -S 'train.seed=$(SEED_LIST)'
ablations-queue: setup data
	$(if $(BASE_SEEDS),$(QUEUE_ONE) -S 'train.seed=$(BASE_SEEDS)')
	$(QUEUE) -S outliers.fraction=0.05
	$(QUEUE) -S eval.sharpen=1.0
	$(QUEUE) -S train.augment=true
	$(QUEUE) -S train.cutmix=0.5 -S 'train.cutmix_mode=real_fake,real_real'
	$(QUEUE) -S oversample.target=75000
	$(QUEUE) -S 'train.lr_schedule=cosine,exp,step'
	$(QUEUE) -S 'train.diffaugment="color,translation,cutout"'

# reports/ablations.md and .csv from `dvc exp show --json`
ablations: setup
	$(PY) -m stages.ablations

# Train the shipped evaluation classifier once (stages/metrics/weights/cifar_net.pt); its
# sha256 is pinned in stages/metrics/backbones.py. Needs the prepared CIFAR-10 split.
cifar-net: setup data
	$(VENV)/bin/dvc repro prepare
	$(PY) -m stages.train_cifar_net

# PEER: pytorch/examples' dcgan/main.py (the unmodified copy in ../shared/peers/, or your
# clone's), run beside our Radford DCGAN in the same invocation; PEER= skips it.
PEER ?= $(wildcard ../shared/peers/pytorch-examples-dcgan/main.py)
bench: setup
	$(PY) -m stages.bench $(if $(PEER),--peer $(PEER))

# N images of a trained family for external FID tools: a new folder of PNGs or a .npz
#   make sample FAMILY=dcgan3 N=10000 OUT=samples/dcgan3
N ?= 10000
OUT ?= samples/$(FAMILY)
sample: setup
	$(PY) -m stages.sample --family $(FAMILY) --n $(N) --out $(OUT)

# A folder through the trained CycleGAN: make translate IN=photos/ OUT=styled/ [DIRECTION=b2a]
DIRECTION ?= a2b
translate: setup
	$(PY) -m stages.translate --in $(IN) --out $(OUT) --direction $(DIRECTION)

lint: setup
	$(VENV)/bin/ruff check stages tests hydra_plugins scripts .ci
	$(VENV)/bin/ruff format --check stages tests hydra_plugins scripts .ci

clean-checkpoints:
	rm -rf checkpoints
