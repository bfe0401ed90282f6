-- ZITADEL 23_correct_global_unique_constraints: instance domains become global unique constraints (instance_id '')
-- Source: cmd/setup/23.go, 23.sql @ 60ee2610

UPDATE eventstore.unique_constraints SET instance_id = '' WHERE unique_type = 'instance_domain';
