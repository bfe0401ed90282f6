-- ZITADEL `init`: unique values claimed by events (user names, domains, ...), per instance.
-- All three columns form the key; setup's own `migration_started`/`migration_done`
-- markers live here too, with instance_id ''.
CREATE TABLE IF NOT EXISTS eventstore.unique_constraints (
    instance_id  TEXT,
    unique_type  TEXT,
    unique_field TEXT,

    PRIMARY KEY (instance_id, unique_type, unique_field)
);
