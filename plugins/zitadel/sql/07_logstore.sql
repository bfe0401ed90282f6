-- ZITADEL setup step 07_logstore: the log store for access logs (API requests) and
-- action execution logs, queried per instance and newest first.
-- (ZITADEL also grants ALL on the schema's tables to its own user; zsetup runs as that
-- user, so the self-grant is left out.)
CREATE SCHEMA IF NOT EXISTS logstore;

CREATE TABLE IF NOT EXISTS logstore.access (
    log_date         TIMESTAMPTZ NOT NULL,
    protocol         INTEGER     NOT NULL,
    request_url      TEXT        NOT NULL,
    response_status  INTEGER     NOT NULL,
    request_headers  JSONB,
    response_headers JSONB,
    instance_id      TEXT        NOT NULL,
    project_id       TEXT        NOT NULL,
    requested_domain TEXT,
    requested_host   TEXT
);
CREATE INDEX IF NOT EXISTS protocol_date_desc ON logstore.access (instance_id, protocol, log_date DESC)
    INCLUDE (request_url, response_status, request_headers);

CREATE TABLE IF NOT EXISTS logstore.execution (
    log_date    TIMESTAMPTZ NOT NULL,
    took        INTERVAL,
    message     TEXT        NOT NULL,
    loglevel    INTEGER     NOT NULL,
    instance_id TEXT        NOT NULL,
    action_id   TEXT        NOT NULL,
    metadata    JSONB
);
CREATE INDEX IF NOT EXISTS log_date_desc ON logstore.execution (instance_id, log_date DESC) INCLUDE (took);
