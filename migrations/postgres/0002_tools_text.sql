-- A text copy of each service's tool definitions, written with `tools` in the same statement.
-- Reading 100,000 definitions back from jsonb[] makes PostgreSQL re-serialize every one of them
-- (~216 ms of one backend's CPU on a 2-core machine); reading this column is a plain copy.
-- STORAGE EXTERNAL: kept uncompressed out of line, so reading it costs no decompression either.
ALTER TABLE service_tools ADD COLUMN tools_text TEXT;
ALTER TABLE service_tools ALTER COLUMN tools_text SET STORAGE EXTERNAL;
UPDATE service_tools SET tools_text = array_to_json(tools)::text WHERE tools_text IS NULL;
