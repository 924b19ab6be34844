# Server: the CUDA build, and the job queue's benchmark.
.PHONY: build-cuda check-cuda queue-bench

# `magictime` with Burn's CUDA backend (`--features cuda`): `serve --device cuda` and
# `worker --device cuda[:N]` generate, train and evaluate on the GPU. Builds without a CUDA
# toolkit (cudarc loads the driver and NVRTC at run time: an NVIDIA driver and libnvrtc are needed
# there); replaces the CPU build at $(BIN) (which still runs on the CPU by default).
build-cuda:
	cargo build --release -p magictime-server --bin magictime --features cuda

# What CI runs so the feature cannot rot (compiles without a CUDA toolkit): the server and the
# UNet benchmark that tools/gpu_check.sh runs on a GPU.
check-cuda:
	cargo check -p magictime-server --features cuda
	cargo check -p magictime-model --example bench_unet --features cuda

# jobs/s of the queue with no-op jobs (claim + finish), claim latency, lost-lease reclaim time.
# On SQLite, then on a PostgreSQL server of its own (an empty database for each run).
queue-bench:
	cargo build --release -p magictime-server --bin magictime
	$(BIN) bench-queue --jobs 2000 --workers 1
	$(BIN) bench-queue --jobs 2000 --workers 4
	tools/with_postgres.sh bash -c 'for w in 1 4; do \
	  psql -X -q -d "$$MAGICTIME_TEST_POSTGRES/postgres" -c "CREATE DATABASE bench_$$w" && \
	  $(BIN) bench-queue --jobs 2000 --workers $$w \
	    --database-url "$$MAGICTIME_TEST_POSTGRES/bench_$$w" || exit 1; done'
