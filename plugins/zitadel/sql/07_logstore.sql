-- ZITADEL 07_logstore: schema logstore with tables access and execution
-- Source: cmd/setup/07.go @ 07ce3b69, 07/logstore.sql @ 8c67c09d, 07/access.sql, 07/execution.sql @ 07ce3b69
-- ZITADEL replaces %[1]s in logstore.sql with config.Database.Username(), the user it
-- connects as: session_user here. The three files are sent as one string. IF NOT EXISTS
-- added to the indexes.

-- 07/logstore.sql
CREATE SCHEMA IF NOT EXISTS logstore;

DO $$
BEGIN
    IF current_user <> session_user THEN
        EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA logstore TO %I', session_user);
    END IF;
END
$$;

-- 07/access.sql
CREATE TABLE IF NOT EXISTS logstore.access (
    log_date TIMESTAMPTZ NOT NULL
    , protocol INT NOT NULL
    , request_url TEXT NOT NULL
    , response_status INT NOT NULL
    , request_headers JSONB
    , response_headers JSONB
    , instance_id TEXT NOT NULL
    , project_id TEXT NOT NULL
    , requested_domain TEXT
    , requested_host TEXT
);

CREATE INDEX IF NOT EXISTS protocol_date_desc ON logstore.access (instance_id, protocol, log_date DESC) INCLUDE (request_url, response_status, request_headers);

-- 07/execution.sql
CREATE TABLE IF NOT EXISTS logstore.execution (
    log_date TIMESTAMPTZ NOT NULL
    , took INTERVAL
    , message TEXT NOT NULL
    , loglevel INT NOT NULL
    , instance_id TEXT NOT NULL
    , action_id TEXT NOT NULL
    , metadata JSONB
);

CREATE INDEX IF NOT EXISTS log_date_desc ON logstore.execution (instance_id, log_date DESC) INCLUDE (took);
