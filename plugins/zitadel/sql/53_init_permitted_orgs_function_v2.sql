-- ZITADEL 53_init_permitted_orgs_function_v2: permission functions for system users (JSON permissions), eventstore.find_roles, a new eventstore.permitted_orgs, the project_members view with org_id and eventstore.permitted_projects
-- Source: cmd/setup/53.go @ 0f38f94, cmd/setup/53/01-get-permissions-from-JSON.sql @ 9f20961, 53/02-permitted_orgs_function.sql @ 3944fb0, 53/03-permitted_projects_func.sql @ 664e794
-- ZITADEL runs the three files one by one, in this order.

-- 01-get-permissions-from-JSON.sql ----------------------------------------------------
DROP FUNCTION IF EXISTS eventstore.check_system_user_perms;
DROP FUNCTION IF EXISTS eventstore.get_system_permissions;
DROP TYPE IF EXISTS eventstore.project_grant;


/*
	Function get_system_permissions unpacks an JSON array of system member permissions,
	into a table format. Each array entry maps to one row representing a membership which
	contained the req_permission.

	[
		{
		"member_type": "IAM",
		"aggregate_id": "310716990375453665",
		"object_id": "",
		"permissions": ["iam.read", "iam.write", "iam.policy.read"]
		},
		...
	]

	| member_type | aggregate_id         | object_id |
	| "IAM"       | "310716990375453665" | null      |
*/
CREATE OR REPLACE FUNCTION eventstore.get_system_permissions(
    permissions_json JSONB
    , permm TEXT
)
RETURNS TABLE (
    member_type TEXT,
    aggregate_id TEXT,
    object_id TEXT
)
  LANGUAGE 'plpgsql' IMMUTABLE
AS $$
BEGIN
    RETURN QUERY
    SELECT res.member_type, res.aggregate_id, res.object_id  FROM (
    SELECT 
        (perm)->>'member_type' AS member_type,
        (perm)->>'aggregate_id' AS aggregate_id,
        (perm)->>'object_id' AS object_id,
        permission
        FROM jsonb_array_elements(permissions_json) AS perm
        CROSS JOIN jsonb_array_elements_text(perm->'permissions') AS permission) AS res
        WHERE res.permission = permm;
END;
$$;

/*
	Type project_grant is composite identifier using its project and grant IDs.
*/
CREATE TYPE eventstore.project_grant AS (
    project_id TEXT -- mapped from a permission's aggregate_id
    , grant_id TEXT -- mapped from a permission's object_id
);

/*
	Function check_system_user_perms uses system member permissions to establish
	on which organization, project or project grant the user has the requested permission.
	The permission can also apply to the complete instance when a IAM membership matches
	the requested instance ID, or through system membership.

	See eventstore.get_system_permissions() on the supported JSON format.
*/
CREATE OR REPLACE FUNCTION eventstore.check_system_user_perms(
     system_user_perms JSONB
    , req_instance_id TEXT
    , perm TEXT

    , instance_permitted OUT BOOLEAN
    , org_ids OUT TEXT[]
    , project_ids OUT TEXT[]
    , project_grants OUT eventstore.project_grant[]
)
	LANGUAGE 'plpgsql' IMMUTABLE
AS $$
BEGIN
	-- make sure no nulls are returned
	instance_permitted := FALSE;
	org_ids := ARRAY[]::TEXT[];
	project_ids := ARRAY[]::TEXT[];
	project_grants := ARRAY[]::eventstore.project_grant[];
	DECLARE
	    p RECORD;
	BEGIN
        FOR p IN SELECT member_type, aggregate_id, object_id
	        FROM eventstore.get_system_permissions(system_user_perms, perm)
	    LOOP
	       CASE p.member_type
	            WHEN 'System' THEN
	                instance_permitted := TRUE;
	                RETURN;
	            WHEN 'IAM' THEN
	                IF p.aggregate_id = req_instance_id THEN
	                    instance_permitted := TRUE;
	                    RETURN;
	                END IF;
	            WHEN 'Organization' THEN
	                IF p.aggregate_id != '' THEN
	                    org_ids := array_append(org_ids, p.aggregate_id);
	                END IF;
	            WHEN 'Project' THEN
	                IF p.aggregate_id != '' THEN
	                    project_ids := array_append(project_ids, p.aggregate_id);
	                END IF;
	            WHEN 'ProjectGrant' THEN
	                IF p.aggregate_id != '' THEN
	                    project_grants := array_append(project_grants, ROW(p.aggregate_id, p.object_id)::eventstore.project_grant);
	                END IF;
	        END CASE;
	    END LOOP;
	END;
END;
$$;

-- 02-permitted_orgs_function.sql -------------------------------------------------------
DROP FUNCTION IF EXISTS eventstore.permitted_orgs;
DROP FUNCTION IF EXISTS eventstore.find_roles;

-- find_roles finds all roles containing the permission
CREATE OR REPLACE FUNCTION eventstore.find_roles(
    req_instance_id TEXT
    , perm TEXT

    , roles OUT TEXT[]
)
LANGUAGE 'plpgsql' STABLE
AS $$
BEGIN
    SELECT array_agg(rp.role) INTO roles
    FROM eventstore.role_permissions rp
    WHERE rp.instance_id = req_instance_id
    AND rp.permission = perm;
END;
$$;

CREATE OR REPLACE FUNCTION eventstore.permitted_orgs(
    req_instance_id TEXT
    , auth_user_id TEXT
    , system_user_perms JSONB
    , perm TEXT
    , filter_org TEXT

    , instance_permitted OUT BOOLEAN
    , org_ids OUT TEXT[]
)
	LANGUAGE 'plpgsql' STABLE
AS $$
BEGIN
    -- if system user
    IF system_user_perms IS NOT NULL THEN
        SELECT p.instance_permitted, p.org_ids INTO instance_permitted, org_ids
        FROM eventstore.check_system_user_perms(system_user_perms, req_instance_id, perm) p;
        RETURN;
    END IF;
  
    -- if human/service account
    DECLARE
    	matched_roles TEXT[] := eventstore.find_roles(req_instance_id, perm);
	BEGIN
        -- First try if the permission was granted thru an instance-level role
        SELECT true INTO instance_permitted
            FROM eventstore.instance_members im
            WHERE im.role = ANY(matched_roles)
            AND im.instance_id = req_instance_id
            AND im.user_id = auth_user_id
            LIMIT 1;
        
        org_ids := ARRAY[]::TEXT[];
        IF instance_permitted THEN
            RETURN;
        END IF;
        instance_permitted := FALSE;

        -- Return the organizations where permission were granted thru org-level roles
        SELECT array_agg(sub.org_id) INTO org_ids
        FROM (
            SELECT DISTINCT om.org_id
            FROM eventstore.org_members om
            WHERE om.role = ANY(matched_roles)
            AND om.instance_id = req_instance_id
            AND om.user_id = auth_user_id
            AND (filter_org IS NULL OR om.org_id = filter_org)
        ) AS sub;
    END;
END;
$$;

-- 03-permitted_projects_func.sql -------------------------------------------------------
-- recreate the view to include the resource_owner
CREATE OR REPLACE VIEW eventstore.project_members AS
SELECT instance_id, aggregate_id as project_id, object_id as user_id, text_value as role, resource_owner as org_id
FROM eventstore.fields
WHERE aggregate_type = 'project'
AND object_type = 'project_member_role'
AND field_name = 'project_role';

DROP FUNCTION IF EXISTS eventstore.permitted_projects;

CREATE OR REPLACE FUNCTION eventstore.permitted_projects(
    req_instance_id TEXT
    , auth_user_id TEXT
    , system_user_perms JSONB
    , perm TEXT
    , filter_org TEXT

    , instance_permitted OUT BOOLEAN
    , org_ids OUT TEXT[]
    , project_ids OUT TEXT[]
)
	LANGUAGE 'plpgsql' STABLE
AS $$
BEGIN
    -- if system user
    IF system_user_perms IS NOT NULL THEN
        SELECT p.instance_permitted, p.org_ids INTO instance_permitted, org_ids, project_ids
        FROM eventstore.check_system_user_perms(system_user_perms, req_instance_id, perm) p;
        RETURN;
    END IF;

    -- if human/service account
    SELECT * FROM eventstore.permitted_orgs(
        req_instance_id
        , auth_user_id
        , system_user_perms
        , perm
        , filter_org
    ) INTO instance_permitted, org_ids;
    IF instance_permitted THEN
        RETURN;
    END IF;
	DECLARE
    	matched_roles TEXT[] := eventstore.find_roles(req_instance_id, perm);
	BEGIN
	    -- Get the projects where permission were granted thru project-level roles
	    SELECT array_agg(sub.project_id) INTO project_ids
	    FROM (
	        SELECT DISTINCT pm.project_id
	        FROM eventstore.project_members pm
	        WHERE pm.role = ANY(matched_roles)
	        AND pm.instance_id = req_instance_id
	        AND pm.user_id = auth_user_id
	        AND (filter_org IS NULL OR pm.org_id = filter_org)
	    ) AS sub;
	END;
END;
$$;
