# Convenience targets; each is one command you can also run by hand.
.PHONY: test plan bench-ingest

test:
	bash tests/run

plan:
	go run . plan hobby-hetzner

# End-to-end ingest throughput against a real ClickHouse (prints figures).
bench-ingest:
	go run ./tests/bench/ingest
