-- ZITADEL 64_change_push_position: type eventstore.latest_command; commands_to_events(command2[])
-- (enforce_owner, NOW() as created_at and position, in_tx_order cast to the type of
-- events2.in_tx_order) and push(command2[])
-- Source: cmd/setup/64.go (ChangePushPosition, inTxOrderType) and cmd/setup/64.sql of ZITADEL's
-- main branch as of 2026-08 (mirror Instituto-Mix/zitadel 560f973fc).
--
-- ZITADEL reads the data type of eventstore.events2.in_tx_order from information_schema and
-- puts it in for %s (fmt.Sprintf); the DO block does the same with format(). ZITADEL then
-- closes its pool's idle connections (pgx caches plans of the old function); zsetup's pool
-- does not cache them.
DO $$ BEGIN
    CREATE TYPE eventstore.latest_command AS (
        instance_id TEXT
        , aggregate_type TEXT
        , aggregate_id TEXT
        , owner TEXT
        , sequence BIGINT
    );
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;

DO $do$
DECLARE
    in_tx_order_type TEXT;
BEGIN
    SELECT data_type INTO STRICT in_tx_order_type
      FROM information_schema.columns
     WHERE table_schema = 'eventstore' AND table_name = 'events2' AND column_name = 'in_tx_order';

    EXECUTE format($stmt$
CREATE OR REPLACE FUNCTION eventstore.commands_to_events(commands eventstore.command2[]) 
    RETURNS SETOF eventstore.events2 
    LANGUAGE 'plpgsql'
    STABLE PARALLEL SAFE
    ROWS 10
AS $$
DECLARE
    _latest_events eventstore.latest_command[];
    command eventstore.command2;
    last_owner TEXT;
    i INTEGER;
BEGIN

    SELECT array_agg(res) INTO _latest_events
    FROM (
        SELECT
            ROW(
                c.instance_id,
                c.aggregate_type,
                c.aggregate_id,
                COALESCE(e.owner, c.owner),
                COALESCE(e.sequence, 0)
            )::eventstore.latest_command AS res
        FROM (
            SELECT DISTINCT ON (c.instance_id, c.aggregate_type, c.aggregate_id)
                c.instance_id,
                c.aggregate_type,
                c.aggregate_id,
                c.owner,
                c.ordinality
            FROM (
                SELECT *
                FROM UNNEST(commands) WITH ORDINALITY AS c
            ) AS c
            ORDER BY
                c.instance_id,
                c.aggregate_type,
                c.aggregate_id,
                c.ordinality
        ) AS c
        LEFT JOIN LATERAL (
            SELECT
                e.owner,
                e.sequence
            FROM eventstore.events2 AS e
            WHERE e.instance_id = c.instance_id
                AND e.aggregate_type = c.aggregate_type
                AND e.aggregate_id = c.aggregate_id
            ORDER BY e.sequence DESC
            LIMIT 1
        ) AS e ON TRUE
    ) AS latest;

    FOR command IN SELECT * FROM UNNEST(commands) LOOP
        IF NOT command.enforce_owner THEN
            SELECT owner INTO command.owner
            FROM UNNEST(_latest_events) AS e
            WHERE e.instance_id = command.instance_id
            AND e.aggregate_type = command.aggregate_type
            AND e.aggregate_id = command.aggregate_id;
        ELSE
            FOR i IN 1..array_length(_latest_events, 1) LOOP
                IF _latest_events[i].instance_id = command.instance_id
                    AND _latest_events[i].aggregate_type = command.aggregate_type
                    AND _latest_events[i].aggregate_id = command.aggregate_id
                THEN
                    _latest_events[i].owner := command.owner;
                    EXIT;
                END IF;
            END LOOP;
        END IF;

    END LOOP;


    RETURN QUERY SELECT
        c.instance_id
        , c.aggregate_type
        , c.aggregate_id
        , c.command_type AS event_type
        , COALESCE(e.sequence, 0) + ROW_NUMBER() OVER (PARTITION BY c.instance_id, c.aggregate_type, c.aggregate_id ORDER BY c.ordinality) AS sequence
        , c.revision
        , NOW() AS created_at
        , c.payload
        , c.creator
        , CASE WHEN c.enforce_owner
            THEN c.owner
            ELSE COALESCE(e.owner, c.owner)
        END AS owner
        , EXTRACT(EPOCH FROM NOW()) AS position
        , c.ordinality::%1$s AS in_tx_order
    FROM UNNEST(commands) WITH ORDINALITY AS c
    LEFT JOIN unnest(_latest_events) AS e
        ON c.instance_id = e.instance_id
        AND c.aggregate_type = e.aggregate_type
        AND c.aggregate_id = e.aggregate_id
    ORDER BY
        in_tx_order;
END;
$$;

CREATE OR REPLACE FUNCTION eventstore.push(commands eventstore.command2[]) RETURNS SETOF eventstore.events2 VOLATILE AS $$
INSERT INTO eventstore.events2
SELECT * FROM eventstore.commands_to_events(commands)
ORDER BY in_tx_order
RETURNING *
$$ LANGUAGE SQL;
$stmt$, in_tx_order_type);
END
$do$;
