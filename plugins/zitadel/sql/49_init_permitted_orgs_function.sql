-- ZITADEL 49_init_permitted_orgs_function: replaces eventstore.permitted_orgs (orgs on which a user has a permission, through instance or org membership)
-- Source: cmd/setup/49.go @ a35b8bb98, cmd/setup/49/01-permitted_orgs_function.sql @ 3c57e325f
-- (zitadel/zitadel v4.x 02d07e951b0b; the same text on main). The text is ZITADEL's unchanged.
-- An older port followed cf73b46 (a feature branch, not released), which had a
-- system_roles parameter and no alias on the last subquery; 3c57e325f (#9465) gave the
-- subquery its alias (`AS sub`), and the released function has no system_roles.
-- The body reads eventstore.role_permissions, instance_orgs, instance_members and
-- org_members (views of 46_init_permission_functions); plpgsql resolves them only when
-- the function is called. 53 drops and replaces the function.
DROP FUNCTION IF EXISTS eventstore.permitted_orgs;

CREATE OR REPLACE FUNCTION eventstore.permitted_orgs(
    instanceId TEXT
    , userId TEXT
    , perm TEXT
    , filter_orgs TEXT

    , org_ids OUT TEXT[]
)
	LANGUAGE 'plpgsql'
	STABLE
AS $$
DECLARE
	matched_roles TEXT[]; -- roles containing permission
BEGIN
	SELECT array_agg(rp.role) INTO matched_roles
	FROM eventstore.role_permissions rp
	WHERE rp.instance_id = instanceId
	AND rp.permission = perm;
	
	-- First try if the permission was granted thru an instance-level role
	DECLARE
		has_instance_permission bool;
	BEGIN
		SELECT true INTO has_instance_permission
			FROM eventstore.instance_members im
			WHERE im.role = ANY(matched_roles)
			AND im.instance_id = instanceId
			AND im.user_id = userId
			LIMIT 1;
		
		IF has_instance_permission THEN
			-- Return all organizations or only those in filter_orgs
			SELECT array_agg(o.org_id) INTO org_ids
				FROM eventstore.instance_orgs o
				WHERE o.instance_id = instanceId
				AND CASE WHEN filter_orgs != ''
					THEN o.org_id IN (filter_orgs) 
					ELSE TRUE END;
			RETURN;
		END IF;
	END;
	
	-- Return the organizations where permission were granted thru org-level roles
	SELECT array_agg(sub.org_id) INTO org_ids
	FROM (
		SELECT DISTINCT om.org_id
		FROM eventstore.org_members om
		WHERE om.role = ANY(matched_roles)
		AND om.instance_id = instanceID
		AND om.user_id = userId
	) AS sub;
    RETURN;
END;
$$;
