-- Event bodies (the raw bytes and the parsed JSONB) are compressed with LZ4 instead of
-- PostgreSQL's default pglz when the server has it: several times faster to compress and to
-- read back, for a similar size on JSON. Only rows written from now on; a server built
-- without LZ4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE events ALTER COLUMN raw_body SET COMPRESSION lz4,
                       ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this PostgreSQL has no LZ4; event bodies stay compressed with pglz';
END
$$;
