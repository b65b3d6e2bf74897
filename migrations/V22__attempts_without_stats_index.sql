-- The attempts' statistics index goes (issue 25). Statistics come from the rollups
-- (V16) and the failing check counts from `subscription_rollups_minute` since this version,
-- so nothing reads `delivery_attempts` by subscription and time any more. The index was the
-- attempts' largest: 201 MiB of a day's 647 MiB with 2.5 million attempts, written on every
-- attempt recorded and removed with every day retention drops.
--
-- On a live database this takes ACCESS EXCLUSIVE on `delivery_attempts` and its partitions
-- while each partition's index file is removed, once: measured 0.32 s for 1,009 MiB over
-- five days of 2.5 million attempts each (warren-bench's history, a busy machine).
DROP INDEX IF EXISTS delivery_attempts_stats_idx;
