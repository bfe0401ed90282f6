-- ZITADEL setup step 15_current_projection_state: one checkpoint row per projection and
-- instance (projections.current_states) and failed events that name their event
-- (projections.failed_events2), replacing the per-sequence bookkeeping of 01_tables.
-- Existing rows are carried over from the old tables; on a new database they are empty.

-- failed events -----------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS projections.failed_events2 (
    projection_name     TEXT        NOT NULL,
    instance_id         TEXT        NOT NULL,

    aggregate_type      TEXT        NOT NULL,
    aggregate_id        TEXT        NOT NULL,
    event_creation_date TIMESTAMPTZ NOT NULL,
    failed_sequence     BIGINT      NOT NULL,

    failure_count       SMALLINT    DEFAULT 0,
    error               TEXT,
    last_failed         TIMESTAMPTZ,

    PRIMARY KEY (projection_name, instance_id, aggregate_type, aggregate_id, failed_sequence)
);
CREATE INDEX IF NOT EXISTS fe2_instance_id_idx ON projections.failed_events2 (instance_id);

-- The old tables know only the failed sequence, not the aggregate: like ZITADEL, take the
-- events of the instance with that sequence.
INSERT INTO projections.failed_events2 (projection_name, instance_id, aggregate_type, aggregate_id, event_creation_date, failed_sequence, failure_count, error, last_failed)
SELECT fe.projection_name, fe.instance_id, e.aggregate_type, e.aggregate_id, e.created_at, e."sequence", fe.failure_count, fe.error, fe.last_failed
  FROM projections.failed_events AS fe
  JOIN eventstore.events2 AS e ON e.instance_id = fe.instance_id AND e."sequence" = fe.failed_sequence
ON CONFLICT DO NOTHING;

INSERT INTO projections.failed_events2 (projection_name, instance_id, aggregate_type, aggregate_id, event_creation_date, failed_sequence, failure_count, error, last_failed)
SELECT fe.view_name, fe.instance_id, e.aggregate_type, e.aggregate_id, e.created_at, e."sequence", fe.failure_count, fe.err_msg, fe.last_failed
  FROM adminapi.failed_events AS fe
  JOIN eventstore.events2 AS e ON e.instance_id = fe.instance_id AND e."sequence" = fe.failed_sequence
ON CONFLICT DO NOTHING;

INSERT INTO projections.failed_events2 (projection_name, instance_id, aggregate_type, aggregate_id, event_creation_date, failed_sequence, failure_count, error, last_failed)
SELECT fe.view_name, fe.instance_id, e.aggregate_type, e.aggregate_id, e.created_at, e."sequence", fe.failure_count, fe.err_msg, fe.last_failed
  FROM auth.failed_events AS fe
  JOIN eventstore.events2 AS e ON e.instance_id = fe.instance_id AND e."sequence" = fe.failed_sequence
ON CONFLICT DO NOTHING;

-- checkpoints -------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS projections.current_states (
    projection_name TEXT NOT NULL,
    instance_id     TEXT NOT NULL,

    last_updated    TIMESTAMPTZ,

    aggregate_id    TEXT,
    aggregate_type  TEXT,
    "sequence"      BIGINT,
    event_date      TIMESTAMPTZ,
    "position"      DECIMAL,

    PRIMARY KEY (projection_name, instance_id)
);
CREATE INDEX IF NOT EXISTS cs_instance_id_idx ON projections.current_states (instance_id);

-- The checkpoint of a projection is the event of its highest current sequence.
INSERT INTO projections.current_states (projection_name, instance_id, event_date, "position", last_updated)
SELECT cs.projection_name, cs.instance_id, e.created_at, e."position", cs."timestamp"
  FROM projections.current_sequences AS cs
  JOIN eventstore.events2 AS e
    ON e.instance_id = cs.instance_id
   AND e.aggregate_type = cs.aggregate_type
   AND e."sequence" = cs.current_sequence
 WHERE cs.current_sequence = (
        SELECT MAX(cs2.current_sequence)
          FROM projections.current_sequences AS cs2
         WHERE cs2.projection_name = cs.projection_name
           AND cs2.instance_id = cs.instance_id)
ON CONFLICT DO NOTHING;

INSERT INTO projections.current_states (projection_name, instance_id, event_date, "position", last_updated)
SELECT cs.view_name, cs.instance_id, e.created_at, e."position", cs.last_successful_spooler_run
  FROM adminapi.current_sequences AS cs
  JOIN eventstore.events2 AS e
    ON e.instance_id = cs.instance_id
   AND e."sequence" = cs.current_sequence
 WHERE cs.current_sequence = (
        SELECT MAX(cs2.current_sequence)
          FROM adminapi.current_sequences AS cs2
         WHERE cs2.view_name = cs.view_name
           AND cs2.instance_id = cs.instance_id)
ON CONFLICT DO NOTHING;

INSERT INTO projections.current_states (projection_name, instance_id, event_date, "position", last_updated)
SELECT cs.view_name, cs.instance_id, e.created_at, e."position", cs.last_successful_spooler_run
  FROM auth.current_sequences AS cs
  JOIN eventstore.events2 AS e
    ON e.instance_id = cs.instance_id
   AND e."sequence" = cs.current_sequence
 WHERE cs.current_sequence = (
        SELECT MAX(cs2.current_sequence)
          FROM auth.current_sequences AS cs2
         WHERE cs2.view_name = cs.view_name
           AND cs2.instance_id = cs.instance_id)
ON CONFLICT DO NOTHING;
