-- ZITADEL 72_add_columns_to_login_names_view: view projections.login_names3 gains resource_owner and login_name_lower
-- Source: zitadel/zitadel cmd/setup/72.go @ 72043f85, cmd/setup/72.sql @ faab3a81
-- Not guarded: needs projections.login_names3_users / _policies / _domains (projection_tables)
-- and their user_name_lower / name_lower columns (18_add_lower_fields_to_login_names).
-- CREATE OR REPLACE VIEW may only append columns: it fails if an existing login_names3 view
-- does not start with (user_id, login_name, is_primary, instance_id) as the projection
-- creates it. Idempotent as it stands.
CREATE OR REPLACE VIEW projections.login_names3 AS (
    SELECT
        u.id AS user_id
        , CASE
            WHEN p.must_be_domain THEN CONCAT(u.user_name, '@', d.name)
            ELSE u.user_name
        END AS login_name
        , COALESCE(d.is_primary, TRUE) AS is_primary
        , u.instance_id
        , u.resource_owner
        , CASE
                WHEN p.must_be_domain THEN CONCAT(u.user_name_lower, '@', d.name_lower)
                ELSE u.user_name_lower
        END AS login_name_lower
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
            AND u.instance_id = d.instance_id
);
