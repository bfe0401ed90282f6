-- ZITADEL init_05_unique_constraints: eventstore.unique_constraints (instance_id, unique_type, unique_field, owners)
-- Source: cmd/initialise/sql/10_unique_constraints_table.sql @ ca588a5f

CREATE TABLE IF NOT EXISTS eventstore.unique_constraints (
    instance_id TEXT,
    unique_type TEXT,
    unique_field TEXT,
    owners TEXT[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (instance_id, unique_type, unique_field)
);
