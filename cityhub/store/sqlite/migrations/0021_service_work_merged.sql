-- The work queue counts how many items were merged into each unclaimed item
-- (cityhub/store/work.py ENQUEUE): a service that asks for less work when an item stands for
-- one write alone (the alert engine's write-back items) reads the count, not the clocks of
-- the processes that queued them. Items queued before this column: not known, counted as
-- merged (they are worked on whole, as any merged item is).
ALTER TABLE service_work ADD COLUMN merged INTEGER NOT NULL DEFAULT 0;
UPDATE service_work SET merged = 1;
