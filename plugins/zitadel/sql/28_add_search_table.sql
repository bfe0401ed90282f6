-- ZITADEL setup step 28_add_search_table: eventstore.fields, values of aggregates kept
-- beside the events so that commands can look objects up (and enforce uniqueness)
-- without replaying events. Every value is stored as JSONB in "value"; when it must be
-- indexed or unique, its primitive form is also in number_value / text_value / bool_value.
CREATE TABLE IF NOT EXISTS eventstore.fields (
    id              TEXT NOT NULL DEFAULT gen_random_uuid(),
    instance_id     TEXT NOT NULL,
    resource_owner  TEXT NOT NULL,

    aggregate_type  TEXT NOT NULL,
    aggregate_id    TEXT NOT NULL,

    object_type     TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    object_revision SMALLINT,

    field_name      TEXT NOT NULL,

    "value"         JSONB NOT NULL,
    number_value    NUMERIC GENERATED ALWAYS AS (
        CASE WHEN should_index AND jsonb_typeof("value") = 'number' THEN "value"::NUMERIC END
    ) STORED,
    text_value      TEXT GENERATED ALWAYS AS (
        CASE WHEN should_index AND jsonb_typeof("value") = 'string' THEN "value" #>> '{}' END
    ) STORED,
    bool_value      BOOLEAN GENERATED ALWAYS AS (
        CASE WHEN should_index AND jsonb_typeof("value") = 'boolean' THEN "value"::BOOLEAN END
    ) STORED,

    -- the value must be unique within the instance
    value_must_be_unique BOOLEAN,
    -- the primitive value is indexed
    should_index         BOOLEAN,

    PRIMARY KEY (instance_id, id),
    CONSTRAINT primitive_value_for_unique_check CHECK (
        CASE WHEN value_must_be_unique THEN num_nonnulls(number_value, text_value, bool_value) = 1 ELSE true END
    ),
    CONSTRAINT primitive_value_for_index CHECK (
        CASE WHEN should_index THEN num_nonnulls(number_value, text_value, bool_value) = 1 ELSE true END
    )
);

-- uniqueness of primitive values
CREATE UNIQUE INDEX IF NOT EXISTS f_number_unique_idx ON eventstore.fields (instance_id, field_name, number_value) WHERE value_must_be_unique;
CREATE UNIQUE INDEX IF NOT EXISTS f_text_unique_idx ON eventstore.fields (instance_id, field_name, text_value) WHERE value_must_be_unique;
CREATE UNIQUE INDEX IF NOT EXISTS f_bool_unique_idx ON eventstore.fields (instance_id, field_name, bool_value) WHERE value_must_be_unique;

-- search by primitive value
CREATE INDEX IF NOT EXISTS f_number_value_idx ON eventstore.fields (instance_id, object_type, field_name, number_value)
    INCLUDE (resource_owner, object_id, object_revision, "value")
    WHERE number_value IS NOT NULL;
CREATE INDEX IF NOT EXISTS f_text_value_idx ON eventstore.fields (instance_id, object_type, field_name, text_value)
    INCLUDE (resource_owner, object_id, object_revision, "value")
    WHERE text_value IS NOT NULL;
CREATE INDEX IF NOT EXISTS f_bool_value_idx ON eventstore.fields (instance_id, object_type, field_name, bool_value)
    INCLUDE (resource_owner, object_id, object_revision, "value")
    WHERE bool_value IS NOT NULL;

-- an object by id
CREATE INDEX IF NOT EXISTS f_object_idx ON eventstore.fields (instance_id, object_type, object_id, object_revision)
    INCLUDE (resource_owner, field_name, "value");
