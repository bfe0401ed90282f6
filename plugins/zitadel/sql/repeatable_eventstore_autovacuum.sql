-- ZITADEL repeatable_eventstore_autovacuum: tune (or reset) autovacuum/autoanalyze of eventstore.events2 from Eventstore.Autovacuum
-- Source: cmd/setup/eventstore_autovacuum.go @ 718bacb (statements inline in the Go: eventstoreAutovacuumResetStmt and the fmt.Sprintf SET)
-- ZITADEL decides in Go from its config (Eventstore.Autovacuum.Enabled / VacuumThreshold /
-- AnalyzeThreshold): disabled -> RESET; enabled -> both thresholds must be > 10000, then SET.
-- The config is not in the database, so this block reads it from three settings that the
-- zsetup step sets in the same transaction before running this file (set_config(..., true)):
--   zitadel.eventstore_autovacuum_enabled            'true' / 'false' (unset or empty: false)
--   zitadel.eventstore_autovacuum_vacuum_threshold   uint32
--   zitadel.eventstore_autovacuum_analyze_threshold  uint32
-- lastRun: {"enabled": bool, "vacuumThreshold": n, "analyzeThreshold": n}; reruns when any differs.
DO $do$
DECLARE
	enabled boolean := coalesce(nullif(current_setting('zitadel.eventstore_autovacuum_enabled', true), '')::boolean, false);
	vacuum_threshold bigint := coalesce(nullif(current_setting('zitadel.eventstore_autovacuum_vacuum_threshold', true), '')::bigint, 0);
	analyze_threshold bigint := coalesce(nullif(current_setting('zitadel.eventstore_autovacuum_analyze_threshold', true), '')::bigint, 0);
BEGIN
	IF NOT enabled THEN
		ALTER TABLE eventstore.events2 RESET (
	autovacuum_vacuum_scale_factor,
	autovacuum_analyze_scale_factor,
	autovacuum_vacuum_insert_scale_factor,
	autovacuum_vacuum_insert_threshold,
	autovacuum_analyze_threshold,
	autovacuum_vacuum_threshold
);
		RETURN;
	END IF;
	-- minAutovacuumThreshold = 10000
	IF vacuum_threshold <= 10000 OR analyze_threshold <= 10000 THEN
		RAISE EXCEPTION 'repeatable_eventstore_autovacuum: VacuumThreshold and AnalyzeThreshold must be greater than %', 10000;
	END IF;
	-- autovacuum_vacuum_threshold covers rows changed by updates and deletes, while
	-- autovacuum_vacuum_insert_threshold only covers inserts. events2 is append-only, but
	-- VacuumThreshold is applied to both (as in ZITADEL).
	EXECUTE format($sql$ALTER TABLE eventstore.events2 SET (
	autovacuum_vacuum_scale_factor = 0.0,
	autovacuum_analyze_scale_factor = 0.0,
	autovacuum_vacuum_insert_scale_factor = 0.0,
	autovacuum_vacuum_insert_threshold = %s,
	autovacuum_analyze_threshold = %s,
	autovacuum_vacuum_threshold = %s
)$sql$, vacuum_threshold, analyze_threshold, vacuum_threshold);
END
$do$;
