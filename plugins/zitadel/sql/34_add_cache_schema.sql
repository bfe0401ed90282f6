-- ZITADEL setup step 34_add_cache_schema: the database cache. Objects and their lookup
-- keys are partitioned by cache name; ZITADEL adds a partition per cache at start.
-- Parents are logged tables (PostgreSQL 18 refuses unlogged partitioned tables, as in
-- ZITADEL's current version of this step); the partitions, the data, are unlogged.
CREATE SCHEMA IF NOT EXISTS cache;

CREATE TABLE IF NOT EXISTS cache.objects (
    cache_name   VARCHAR     NOT NULL,
    id           UUID        NOT NULL DEFAULT gen_random_uuid(),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    payload      JSONB       NOT NULL,

    PRIMARY KEY (cache_name, id)
) PARTITION BY LIST (cache_name);

CREATE UNLOGGED TABLE IF NOT EXISTS cache.objects_default
    PARTITION OF cache.objects DEFAULT;

CREATE TABLE IF NOT EXISTS cache.string_keys (
    cache_name VARCHAR NOT NULL CHECK (cache_name <> ''),
    index_id   INTEGER NOT NULL CHECK (index_id > 0),
    index_key  VARCHAR NOT NULL CHECK (index_key <> ''),
    object_id  UUID    NOT NULL,

    PRIMARY KEY (cache_name, index_id, index_key),
    CONSTRAINT fk_object
        FOREIGN KEY (cache_name, object_id)
        REFERENCES cache.objects (cache_name, id)
        ON DELETE CASCADE
) PARTITION BY LIST (cache_name);

-- for the delete cascade
CREATE INDEX IF NOT EXISTS string_keys_object_id_idx ON cache.string_keys (cache_name, object_id);

CREATE UNLOGGED TABLE IF NOT EXISTS cache.string_keys_default
    PARTITION OF cache.string_keys DEFAULT;
