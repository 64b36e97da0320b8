# Convenience targets; each is one command you can also run by hand.
.PHONY: test test-short plan web bench-ingest bench-ingest-cluster bench-search bench-api images

test:
	bash tests/run

# The fast loop: unit tests only, no server, rig or engine. With the tests'
# tags, so it reuses what a full run compiled; the UI test needs `make web`.
test-short:
	GOFLAGS="-tags=osusergo $(GOFLAGS)" go test -short ./...

plan:
	go run . plan hobby-hetzner

# End-to-end ingest throughput against a real ClickHouse (prints figures).
bench-ingest:
	go run ./tests/bench/ingest

# The same, then against a 2 shards x 2 replicas cluster: the ratio of the two.
bench-ingest-cluster:
	go run ./tests/bench/ingest -cluster

# Search latency over 10 million events: service, generated SQL and
# hand-written SQL (prints figures).
bench-search:
	go run ./tests/bench/search

# api CRUD latency at 200 requests/s and scheduler failover time (prints figures).
bench-api:
	go run ./tests/bench/api

# The web UI's build (npm ci of its lock, then Vite), which the web binary embeds.
web:
	bash services/web/ui/build

# Service images as an OCI layout in dist/images (PUSH=ghcr.io/nanosiem pushes).
images:
	go run ./services/images -out dist/images $(if $(PUSH),-push $(PUSH))
