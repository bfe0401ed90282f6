-- ZITADEL 43_create_fields_domain_index: partial index fields_instance_domains_idx on eventstore.fields for instance domains (CONCURRENTLY)
-- Source: zitadel/zitadel cmd/setup/43.go (readStatements over 43/*.sql), cmd/setup/43/43.sql @ 4a0850e8
-- Needs eventstore.fields (28_add_search_table). Built CONCURRENTLY: the step is declared
-- transaction: false; zsetup drops an INVALID fields_instance_domains_idx left by an
-- interrupted build before running the statement, so IF NOT EXISTS cannot keep a broken one.
CREATE INDEX CONCURRENTLY IF NOT EXISTS fields_instance_domains_idx
ON eventstore.fields (object_id) INCLUDE (instance_id)
WHERE object_type = 'instance_domain' AND field_name = 'domain';
