-- ZITADEL setup step 40_init_push_func_v4: the command type and the push function.
-- A writer pushes an array of commands; push turns them into events numbered after the
-- latest event of each aggregate and inserts them in one statement.
--
-- ZITADEL reads the type of events2.in_tx_order from information_schema and templates it
-- into commands_to_events; events2 is created above with INTEGER, so it is written here.
-- ZITADEL also resets its connection pool afterwards (pgx caches composite types); the
-- engine's pool does not cache types, so nothing else is needed.

-- One event to be written.
DO $$
BEGIN
    CREATE TYPE eventstore.command AS (
        instance_id    TEXT,
        aggregate_type TEXT,
        aggregate_id   TEXT,
        command_type   TEXT,
        revision       INT2,
        payload        JSONB,
        creator        TEXT,
        "owner"        TEXT
    );
EXCEPTION
    WHEN duplicate_object THEN NULL;
END
$$;

-- The sequence and owner of an aggregate's latest event (no row: both NULL).
CREATE OR REPLACE FUNCTION eventstore.latest_aggregate_state(
    instance_id      TEXT,
    aggregate_type   TEXT,
    aggregate_id     TEXT,
    "sequence"   OUT BIGINT,
    "owner"      OUT TEXT
)
    LANGUAGE plpgsql
    STABLE PARALLEL SAFE
AS $$
BEGIN
    SELECT e."sequence", e."owner"
      INTO "sequence", "owner"
      FROM eventstore.events2 AS e
     WHERE e.instance_id = $1
       AND e.aggregate_type = $2
       AND e.aggregate_id = $3
     ORDER BY e."sequence" DESC
     LIMIT 1;
END;
$$;

-- The events the commands become: per aggregate, sequences continue after its latest
-- event, whose owner the new events keep (a new aggregate takes the command's owner);
-- one timestamp (and position) for the whole statement; in_tx_order is the command's
-- place in the array.
CREATE OR REPLACE FUNCTION eventstore.commands_to_events(commands eventstore.command[])
    RETURNS SETOF eventstore.events2
    LANGUAGE plpgsql
    STABLE PARALLEL SAFE
    ROWS 10
AS $$
DECLARE
    agg           RECORD;
    last_sequence BIGINT;
    last_owner    TEXT;
    pushed_at     TIMESTAMPTZ := statement_timestamp();
BEGIN
    FOR agg IN
        SELECT DISTINCT c.instance_id, c.aggregate_type, c.aggregate_id
          FROM UNNEST(commands) AS c
    LOOP
        SELECT s."sequence", s."owner"
          INTO last_sequence, last_owner
          FROM eventstore.latest_aggregate_state(agg.instance_id, agg.aggregate_type, agg.aggregate_id) AS s;

        RETURN QUERY
        SELECT
            c.instance_id,
            c.aggregate_type,
            c.aggregate_id,
            c.command_type,                                                       -- event_type
            COALESCE(last_sequence, 0) + ROW_NUMBER() OVER (ORDER BY c.ordinality), -- sequence
            c.revision,
            pushed_at,                                                            -- created_at
            c.payload,
            c.creator,
            COALESCE(last_owner, c."owner"),                                      -- owner
            EXTRACT(EPOCH FROM pushed_at)::DECIMAL,                               -- position
            c.ordinality::INTEGER                                                 -- in_tx_order
        FROM UNNEST(commands) WITH ORDINALITY AS c
        WHERE c.instance_id = agg.instance_id
          AND c.aggregate_type = agg.aggregate_type
          AND c.aggregate_id = agg.aggregate_id;
    END LOOP;
    RETURN;
END;
$$;

-- Write the commands as events and return them, in command order.
CREATE OR REPLACE FUNCTION eventstore.push(commands eventstore.command[])
    RETURNS SETOF eventstore.events2
    LANGUAGE sql
    VOLATILE
AS $$
    INSERT INTO eventstore.events2
    SELECT * FROM eventstore.commands_to_events(commands)
    ORDER BY in_tx_order
    RETURNING *
$$;
