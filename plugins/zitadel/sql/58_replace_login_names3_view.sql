-- ZITADEL 58_replace_login_names3_view: replaces the view projections.login_names3 (policy by LATERAL lookup) and adds index login_names3_policies_is_default_owner_idx (CONCURRENTLY)
-- Source: cmd/setup/58.go (readStatements 58), cmd/setup/58/01_update_login_names3_view.sql @ bffb129, cmd/setup/58/02_create_index.sql @ 89ad958
--
-- ZITADEL runs these two statements only when the view projections.login_names3 exists
-- (information_schema.views); otherwise the step does nothing (a new database: the
-- projection tables come later, with projection_tables). The CONCURRENTLY build cannot
-- sit in a DO block, so that decision is not in this file: declare the step as a function
-- step that checks first (docs/port/a2.md), with transaction: false.
CREATE OR REPLACE VIEW projections.login_names3 AS
    SELECT
        u.id AS user_id
        , CASE
            WHEN p.must_be_domain THEN CONCAT(u.user_name, '@', d.name)
            ELSE u.user_name
        END AS login_name
        , COALESCE(d.is_primary, TRUE) AS is_primary
        , u.instance_id
    FROM
        projections.login_names3_users AS u
    LEFT JOIN LATERAL (
        SELECT
            must_be_domain
            , is_default
        FROM
            projections.login_names3_policies AS p
        WHERE
            (
                p.instance_id = u.instance_id
                AND NOT p.is_default
                AND p.resource_owner = u.resource_owner
            ) OR (
                p.instance_id = u.instance_id
                AND p.is_default
            )
        ORDER BY
            p.is_default -- custom first
        LIMIT 1
    ) AS p ON TRUE
    LEFT JOIN 
        projections.login_names3_domains d
        ON 
            p.must_be_domain 
            AND u.resource_owner = d.resource_owner 
            AND u.instance_id = d.instance_id;

CREATE INDEX CONCURRENTLY IF NOT EXISTS login_names3_policies_is_default_owner_idx ON projections.login_names3_policies (instance_id, is_default, resource_owner) INCLUDE (must_be_domain);
