-- ZITADEL repeatable_password_expiry_policy_count_trigger: count password age (expiry) policies per instance (projections.password_age_policies2)
-- Source: internal/migration/count_trigger.sql @ 39a5465 (text/template filled for this step), internal/migration/trigger.go @ 6e2019b, cmd/setup/trigger_steps.go @ 984ec82
-- Template config (= the lastRun ZITADEL records): {"table":"projections.password_age_policies2","parent_type":"instance","instance_id_column":"instance_id","parent_id_column":"instance_id","resource":"password_expiry_policy"}
-- Runs in one transaction (LOCK TABLE needs one). Needs projections.resource_counts with its
-- unique constraint and the functions projections.count_resource() / delete_table_counts()
-- (57_create_resource_counts, 63_alter_resource_counts), and the projection table, which
-- ZITADEL creates in projection_tables (no skip when it is missing: the step fails, as in ZITADEL).

-- In case the old trigger exists, drop it to prevent duplicated counts.
DROP TRIGGER IF EXISTS count_password_expiry_policy ON projections.password_age_policies2;

CREATE OR REPLACE TRIGGER count_password_expiry_policy_insert
    AFTER INSERT
    ON projections.password_age_policies2
    FOR EACH ROW
    -- Only count if the conditions are met in the newly added row.
    
    EXECUTE FUNCTION projections.count_resource(
        'instance', 
        'instance_id', 
        'instance_id',
        'password_expiry_policy'
    );

CREATE OR REPLACE TRIGGER count_password_expiry_policy_delete
    AFTER DELETE
    ON projections.password_age_policies2
    FOR EACH ROW
    -- Only count down if the conditions were met in the old / deleted row.
    
    EXECUTE FUNCTION projections.count_resource(
        'instance',
        'instance_id',
        'instance_id',
        'password_expiry_policy'
    );



CREATE OR REPLACE TRIGGER truncate_password_expiry_policy_counts
    AFTER TRUNCATE
    ON projections.password_age_policies2
    FOR EACH STATEMENT
    EXECUTE FUNCTION projections.delete_table_counts();

-- Prevent inserts and deletes while we populate the counts.
LOCK TABLE projections.password_age_policies2 IN SHARE MODE;

-- Populate the resource counts for the existing data in the table.
INSERT INTO projections.resource_counts(
	instance_id,
    table_name,
    parent_type,
    parent_id,
    resource_name,
    amount
)
SELECT
    instance_id,
    'projections.password_age_policies2',
    'instance',
    instance_id,
    'password_expiry_policy',
    COUNT(*) AS amount
FROM projections.password_age_policies2

GROUP BY (instance_id, instance_id)
ON CONFLICT (instance_id, table_name, parent_type, parent_id, resource_name) DO
UPDATE SET updated_at = now(), amount = EXCLUDED.amount;
