-- ZITADEL 55_execution_handler_start: start the execution handler of every instance at this step's started event (no replay of older events)
-- Source: cmd/setup/55.go @ 9f20961, cmd/setup/55.sql (stored text; the index's path lookup returns an older 55.sql of another step)
--
-- ZITADEL runs 55.sql with $1, $2, $3 = Sequence(), CreatedAt(), Position() of the
-- step's own `system.migration.started` event. Here they are read from that event in
-- eventstore.events2 (written before the step's work by the zitadel-state plugin, in
-- ZITADEL's format). Without that record there is no value ZITADEL would use: if an
-- instance exists the step stops instead of guessing; with no instance (a new database)
-- the INSERT has no rows either way, as in ZITADEL.
DO $guard$
BEGIN
    IF EXISTS (SELECT 1 FROM eventstore.events2 WHERE aggregate_type = 'instance' AND event_type = 'instance.added')
       AND NOT EXISTS (
           SELECT 1 FROM eventstore.events2
            WHERE instance_id = '' AND aggregate_type = 'system' AND aggregate_id = 'SYSTEM'
              AND event_type = 'system.migration.started'
              AND payload->>'name' = '55_execution_handler_start')
    THEN
        RAISE EXCEPTION '55_execution_handler_start: no system.migration.started record of this step in eventstore.events2; ZITADEL starts the handler at that event (enable the zitadel-state plugin for this step)';
    END IF;
END
$guard$;

INSERT INTO projections.current_states AS cs ( instance_id
                                             , projection_name
                                             , last_updated
                                             , sequence
                                             , event_date
                                             , position
                                             , filter_offset)
SELECT e.instance_id
     , 'projections.execution_handler'
     , now()
     , started."sequence"   -- $1
     , started.created_at   -- $2
     , started."position"   -- $3
     , 0
FROM eventstore.events2 AS e
CROSS JOIN (
    SELECT s."sequence", s.created_at, s."position"
      FROM eventstore.events2 AS s
     WHERE s.instance_id = '' AND s.aggregate_type = 'system' AND s.aggregate_id = 'SYSTEM'
       AND s.event_type = 'system.migration.started'
       AND s.payload->>'name' = '55_execution_handler_start'
     ORDER BY s."position" DESC, s.in_tx_order DESC, s."sequence" DESC
     LIMIT 1
) AS started
WHERE e.aggregate_type = 'instance'
  AND e.event_type = 'instance.added'
ON CONFLICT (instance_id, projection_name) DO UPDATE SET last_updated  = EXCLUDED.last_updated,
                                                         sequence      = EXCLUDED.sequence,
                                                         event_date    = EXCLUDED.event_date,
                                                         position      = EXCLUDED.position,
                                                         filter_offset = EXCLUDED.filter_offset;
