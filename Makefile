.PHONY: run test fuzz setup db psql stop lint bench bench-data bench-locate bench-sweep bench-report bench-sync
run:        ## set up everything and serve the demo API on http://127.0.0.1:8000
	@scripts/dev.sh run
test:       ## set up everything and run the test suite
	@scripts/dev.sh test $(ARGS)
fuzz:       ## the long fuzz run (FUZZ_EXAMPLES=300, FUZZ_SEED=…, FUZZ_TAGS="disputes or sync")
	@scripts/fuzz.sh $(ARGS)
setup:
	@scripts/dev.sh setup
db:
	@scripts/dev.sh db
psql:
	@scripts/dev.sh psql
stop:       ## stop the project's PostgreSQL cluster
	@scripts/dev.sh stop
lint:       ## ruff lint, format check, the import graph and view length (sets up .venv when missing)
	@scripts/dev.sh lint
bench:        ## every benchmark scenario at province scale next to its raw-SQL baseline (table + bench/results/bench.json)
	@scripts/dev.sh bench run $(ARGS)
bench-data:   ## generate the province: >= 100,000 grid cells, >= 1,000,000 cases (once; kept)
	@scripts/dev.sh bench dataset $(ARGS)
bench-locate: ## one scenario each (see bench/run.py for all)
	@scripts/dev.sh bench run --only locate $(ARGS)
bench-sweep:
	@scripts/dev.sh bench run --only sweep $(ARGS)
bench-report:
	@scripts/dev.sh bench run --only report,export $(ARGS)
bench-sync:
	@scripts/dev.sh bench run --only sync $(ARGS)
