# Convenience targets; each is one command you can also run by hand.
.PHONY: test plan bench-ingest images

test:
	bash tests/run

plan:
	go run . plan hobby-hetzner

# End-to-end ingest throughput against a real ClickHouse (prints figures).
bench-ingest:
	go run ./tests/bench/ingest

# Service images as an OCI layout in dist/images (PUSH=ghcr.io/nanosiem pushes).
images:
	go run ./services/images -out dist/images $(if $(PUSH),-push $(PUSH))
