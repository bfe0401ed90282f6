-- ZITADEL repeatable_scim_provisioned_user_count_trigger: count SCIM-provisioned users (metadata key urn:zitadel:scim:emails) per organization (projections.user_metadata5)
-- Source: internal/migration/count_trigger.sql @ 39a5465 (text/template filled for this step), internal/migration/trigger.go @ 6e2019b, cmd/setup/trigger_steps.go @ 984ec82
-- Template config (= the lastRun ZITADEL records): {"table":"projections.user_metadata5","parent_type":"organization","instance_id_column":"instance_id","parent_id_column":"resource_owner","resource":"scim_provisioned_user","conditions":{"column":"key","value":"urn:zitadel:scim:emails"}}
-- Runs in one transaction (LOCK TABLE needs one). Needs projections.resource_counts with its
-- unique constraint and the functions projections.count_resource() / delete_table_counts()
-- (57_create_resource_counts, 63_alter_resource_counts), and the projection table, which
-- ZITADEL creates in projection_tables (no skip when it is missing: the step fails, as in ZITADEL).

-- In case the old trigger exists, drop it to prevent duplicated counts.
DROP TRIGGER IF EXISTS count_scim_provisioned_user ON projections.user_metadata5;

CREATE OR REPLACE TRIGGER count_scim_provisioned_user_insert
    AFTER INSERT
    ON projections.user_metadata5
    FOR EACH ROW
    -- Only count if the conditions are met in the newly added row.
    WHEN (NEW.key = 'urn:zitadel:scim:emails')
    EXECUTE FUNCTION projections.count_resource(
        'organization', 
        'instance_id', 
        'resource_owner',
        'scim_provisioned_user'
    );

CREATE OR REPLACE TRIGGER count_scim_provisioned_user_delete
    AFTER DELETE
    ON projections.user_metadata5
    FOR EACH ROW
    -- Only count down if the conditions were met in the old / deleted row.
    WHEN (OLD.key = 'urn:zitadel:scim:emails')
    EXECUTE FUNCTION projections.count_resource(
        'organization',
        'instance_id',
        'resource_owner',
        'scim_provisioned_user'
    );



CREATE OR REPLACE TRIGGER truncate_scim_provisioned_user_counts
    AFTER TRUNCATE
    ON projections.user_metadata5
    FOR EACH STATEMENT
    EXECUTE FUNCTION projections.delete_table_counts();

-- Prevent inserts and deletes while we populate the counts.
LOCK TABLE projections.user_metadata5 IN SHARE MODE;

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
    'projections.user_metadata5',
    'organization',
    resource_owner,
    'scim_provisioned_user',
    COUNT(*) AS amount
FROM projections.user_metadata5
WHERE projections.user_metadata5.key = 'urn:zitadel:scim:emails'
GROUP BY (instance_id, resource_owner)
ON CONFLICT (instance_id, table_name, parent_type, parent_id, resource_name) DO
UPDATE SET updated_at = now(), amount = EXCLUDED.amount;
