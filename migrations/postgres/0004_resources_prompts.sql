-- Resources, resource templates and prompts of each service, beside its tools and written in the
-- same statement: jsonb[] as for tools, with text copies that reloads read (see 0002).
ALTER TABLE service_tools ADD COLUMN resources JSONB[] NOT NULL DEFAULT '{}';
ALTER TABLE service_tools ADD COLUMN resources_text TEXT;
ALTER TABLE service_tools ADD COLUMN resource_templates JSONB[] NOT NULL DEFAULT '{}';
ALTER TABLE service_tools ADD COLUMN resource_templates_text TEXT;
ALTER TABLE service_tools ADD COLUMN prompts JSONB[] NOT NULL DEFAULT '{}';
ALTER TABLE service_tools ADD COLUMN prompts_text TEXT;
ALTER TABLE service_tools ALTER COLUMN resources_text SET STORAGE EXTERNAL;
ALTER TABLE service_tools ALTER COLUMN resource_templates_text SET STORAGE EXTERNAL;
ALTER TABLE service_tools ALTER COLUMN prompts_text SET STORAGE EXTERNAL;
