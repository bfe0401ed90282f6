-- ZITADEL 49_init_permitted_orgs_function: replaces eventstore.permitted_orgs (orgs on which a user has a permission, through system roles, instance or org membership)
-- Source: cmd/setup/49.go @ 597781b, cmd/setup/49/01-permitted_orgs_function.sql @ cf73b46
-- The body reads eventstore.role_permissions, instance_orgs, instance_members and
-- org_members (views of 46_init_permission_functions); plpgsql resolves them only when
-- the function is called.
-- One change to ZITADEL's text: the subquery of the last SELECT gets an alias (`AS sub`).
-- PostgreSQL 16 accepts a subquery in FROM without one, 15 and older refuse to create the
-- function ("subquery in FROM must have an alias"); the function does the same either way.
DROP FUNCTION IF EXISTS eventstore.permitted_orgs;

CREATE OR REPLACE FUNCTION eventstore.permitted_orgs(
    instanceId TEXT
    , userId TEXT
    , perm TEXT
    , system_roles TEXT[]
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

  IF system_roles IS NOT NULL THEN
    DECLARE
      permission_found_in_system_roles bool;
    BEGIN
      SELECT result.role_found INTO permission_found_in_system_roles
      FROM (SELECT matched_roles && system_roles AS role_found) AS result;

      IF permission_found_in_system_roles THEN
        SELECT array_agg(o.org_id) INTO org_ids
        FROM eventstore.instance_orgs o
        WHERE o.instance_id = instanceId
        AND CASE WHEN filter_orgs != ''
          THEN o.org_id IN (filter_orgs) 
          ELSE TRUE END;
        RETURN;
    END IF;
    END;
  END IF;

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
	SELECT array_agg(org_id) INTO org_ids
	FROM (
		SELECT DISTINCT om.org_id
		FROM eventstore.org_members om
		WHERE om.role = ANY(matched_roles)
		AND om.instance_id = instanceID
		AND om.user_id = userId
	) AS sub; -- zsetup: alias added (ZITADEL's text has none; PostgreSQL < 16 requires one)
    RETURN;
END;
$$;
