-- A source may be limited in events accepted per second (issue 23): above it, ingest answers
-- 429 with Retry-After and stores nothing. NULL: no limit. Adding a nullable column with no
-- default rewrites nothing; the check is validated apart so it never holds a long lock.
ALTER TABLE sources ADD COLUMN rate_limit_per_sec integer;
ALTER TABLE sources ADD CONSTRAINT sources_rate_limit_per_sec_check
    CHECK (rate_limit_per_sec BETWEEN 1 AND 100000) NOT VALID;
ALTER TABLE sources VALIDATE CONSTRAINT sources_rate_limit_per_sec_check;
