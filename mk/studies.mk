# Browser user studies: the answer-endpoint load test (wrk) and the statistics fixtures.
APT_PACKAGES += wrk ffmpeg

.PHONY: studies-bench studies-fixtures

# 200 connections of simulated participants answering, then SIGKILL during the load.
studies-bench:
	cargo build --release -p magictime-server --bin magictime
	python3 tools/bench/studies_load.py --participants 2000 --trials 10 --connections 200 --duration 10

# Regenerates app/tests/fixtures/stats.json (needs numpy scipy statsmodels krippendorff).
studies-fixtures:
	python3 tools/stats/make_fixtures.py
