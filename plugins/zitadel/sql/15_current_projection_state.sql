-- ZITADEL 15_current_projection_state: projections.failed_events2 and current_states, filled from the old bookkeeping tables
-- Source: cmd/setup/15.go, 15/*.sql @ 07ce3b69
-- ZITADEL runs each file as its own statement, in directory order.

-- 15/01_new_failed_events.sql
CREATE TABLE IF NOT EXISTS projections.failed_events2 (
    projection_name TEXT NOT NULL
    , instance_id TEXT NOT NULL

    , aggregate_type TEXT NOT NULL
    , aggregate_id TEXT NOT NULL
    , event_creation_date TIMESTAMPTZ NOT NULL
    , failed_sequence INT8 NOT NULL

    , failure_count INT2 NULL DEFAULT 0
    , error TEXT
    , last_failed TIMESTAMPTZ
    
    , PRIMARY KEY (projection_name, instance_id, aggregate_type, aggregate_id, failed_sequence)
);
CREATE INDEX IF NOT EXISTS fe2_instance_id_idx on projections.failed_events2 (instance_id);

-- 15/02_fe_from_projections.sql
INSERT INTO projections.failed_events2 (
    projection_name
    , instance_id
    , aggregate_type
    , aggregate_id
    , event_creation_date
    , failed_sequence
    , failure_count
    , error
    , last_failed
) SELECT 
    fe.projection_name
    , fe.instance_id
    , e.aggregate_type
    , e.aggregate_id
    , e.created_at
    , e.sequence
    , fe.failure_count
    , fe.error
    , fe.last_failed
FROM 
    projections.failed_events fe
JOIN eventstore.events2 e ON
    e.instance_id = fe.instance_id 
    AND e.sequence = fe.failed_sequence 
ON CONFLICT DO NOTHING;

-- 15/03_fe_from_adminapi.sql
INSERT INTO projections.failed_events2 (
    projection_name
    , instance_id
    , aggregate_type
    , aggregate_id
    , event_creation_date
    , failed_sequence
    , failure_count
    , error
    , last_failed
) SELECT 
    fe.view_name
    , fe.instance_id
    , e.aggregate_type
    , e.aggregate_id
    , e.created_at
    , e.sequence
    , fe.failure_count
    , fe.err_msg
    , fe.last_failed
FROM 
    adminapi.failed_events fe
JOIN eventstore.events2 e ON
    e.instance_id = fe.instance_id 
    AND e.sequence = fe.failed_sequence 
ON CONFLICT DO NOTHING;

-- 15/04_fe_from_auth.sql
INSERT INTO projections.failed_events2 (
    projection_name
    , instance_id
    , aggregate_type
    , aggregate_id
    , event_creation_date
    , failed_sequence
    , failure_count
    , error
    , last_failed
) SELECT 
    fe.view_name
    , fe.instance_id
    , e.aggregate_type
    , e.aggregate_id
    , e.created_at
    , e.sequence
    , fe.failure_count
    , fe.err_msg
    , fe.last_failed
FROM 
    auth.failed_events fe
JOIN eventstore.events2 e ON
    e.instance_id = fe.instance_id 
    AND e.sequence = fe.failed_sequence 
ON CONFLICT DO NOTHING;

-- 15/05_current_states.sql
CREATE TABLE IF NOT EXISTS projections.current_states (
    projection_name TEXT NOT NULL
    , instance_id TEXT NOT NULL

    , last_updated TIMESTAMPTZ

    , aggregate_id TEXT
    , aggregate_type TEXT
    , "sequence" INT8
    , event_date TIMESTAMPTZ
    , "position" DECIMAL

    , PRIMARY KEY (projection_name, instance_id)
);
CREATE INDEX IF NOT EXISTS cs_instance_id_idx ON projections.current_states (instance_id);

-- 15/06_cs_from_projections.sql
INSERT INTO projections.current_states (
    projection_name
    , instance_id
    , event_date
    , "position"
    , last_updated
) SELECT 
    cs.projection_name
    , cs.instance_id
    , e.created_at
    , e.position
    , cs.timestamp
FROM 
    projections.current_sequences cs
JOIN eventstore.events2 e ON
    e.instance_id = cs.instance_id 
    AND e.aggregate_type = cs.aggregate_type
    AND e.sequence = cs.current_sequence 
    AND cs.current_sequence = (
        SELECT 
            MAX(cs2.current_sequence)
        FROM
            projections.current_sequences cs2
        WHERE
            cs.projection_name = cs2.projection_name
            AND cs.instance_id = cs2.instance_id
    )
ON CONFLICT DO NOTHING;

-- 15/07_cs_from_adminapi.sql
INSERT INTO projections.current_states (
    projection_name
    , instance_id
    , event_date
    , "position"
    , last_updated
) SELECT 
    cs.view_name
    , cs.instance_id
    , e.created_at
    , e.position
    , cs.last_successful_spooler_run
FROM 
    adminapi.current_sequences cs
JOIN eventstore.events2 e ON
    e.instance_id = cs.instance_id 
    AND e.sequence = cs.current_sequence 
    AND cs.current_sequence = (
        SELECT 
            MAX(cs2.current_sequence)
        FROM
            adminapi.current_sequences cs2
        WHERE
            cs.view_name = cs2.view_name
            AND cs.instance_id = cs2.instance_id
    )
ON CONFLICT DO NOTHING;

-- 15/08_cs_from_auth.sql
INSERT INTO projections.current_states (
    projection_name
    , instance_id
    , event_date
    , "position"
    , last_updated
) SELECT 
    cs.view_name
    , cs.instance_id
    , e.created_at
    , e.position
    , cs.last_successful_spooler_run
FROM 
    auth.current_sequences cs
JOIN eventstore.events2 e ON
    e.instance_id = cs.instance_id 
    AND e.sequence = cs.current_sequence 
    AND cs.current_sequence = (
        SELECT 
            MAX(cs2.current_sequence)
        FROM
            auth.current_sequences cs2
        WHERE
            cs.view_name = cs2.view_name
            AND cs.instance_id = cs2.instance_id
    )
ON CONFLICT DO NOTHING;
