-- Resources, resource templates and prompts of each service, beside its tools (JSON arrays).
ALTER TABLE service_tools ADD COLUMN resources TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(resources));
ALTER TABLE service_tools ADD COLUMN resource_templates TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(resource_templates));
ALTER TABLE service_tools ADD COLUMN prompts TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(prompts));
