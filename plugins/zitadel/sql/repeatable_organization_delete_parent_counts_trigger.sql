-- ZITADEL repeatable_organization_delete_parent_counts_trigger: on delete of an organization, delete its rows from projections.resource_counts
-- Source: internal/migration/delete_parent_counts_trigger.sql @ aa7f099 (text/template filled for this step), internal/migration/trigger.go @ 6e2019b, cmd/setup/trigger_steps.go @ 984ec82
-- Template config (= the lastRun ZITADEL records): {"table":"projections.orgs1","parent_type":"organization","instance_id_column":"instance_id","parent_id_column":"id","resource":"organization"}
-- Needs the function projections.delete_parent_counts() (57_create_resource_counts) and the
-- projection table, which ZITADEL creates in projection_tables (no skip when it is missing).

CREATE OR REPLACE TRIGGER delete_parent_counts_trigger
    AFTER DELETE
    ON projections.orgs1
    FOR EACH ROW
    EXECUTE FUNCTION projections.delete_parent_counts(
        'organization', 
        'instance_id', 
        'id'
    );
