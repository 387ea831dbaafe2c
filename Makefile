.PHONY: run test setup db psql stop lint bench-locate bench-sweep bench-report bench-sync
run:        ## set up everything and serve the demo API on http://127.0.0.1:8000
	@scripts/dev.sh run
test:       ## set up everything and run the test suite
	@scripts/dev.sh test $(ARGS)
setup:
	@scripts/dev.sh setup
db:
	@scripts/dev.sh db
psql:
	@scripts/dev.sh psql
stop:       ## stop the project's PostgreSQL cluster
	@scripts/dev.sh stop
lint:
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .
bench-locate: ## locate through the API vs raw SQL, on the county and on >= 100,000 cells
	@scripts/dev.sh bench locate_bench $(ARGS)
bench-sweep: ## reminder sweep with 100,000 vs 10,000,000 non-due rows (same due rows)
	@scripts/dev.sh bench sweep_bench $(ARGS)
bench-report: ## monthly report (township, county) vs one raw SQL statement with 1,000,000 cases; export memory
	@scripts/dev.sh bench report_bench $(ARGS)
bench-sync:   ## pull of 100 changes with 1,000,000 cases in the database
	@scripts/dev.sh bench sync_bench $(ARGS)
