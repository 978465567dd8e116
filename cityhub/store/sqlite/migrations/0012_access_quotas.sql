-- Quota counters per caller (issue 20 item 4), kept in the store when several processes
-- share it (cityhub.access.quotas): a token bucket (tokens, at: seconds since the epoch) and
-- the requests of a UTC day. One row per API key, token subject or anonymous address.
CREATE TABLE IF NOT EXISTS access_quotas (
  caller TEXT PRIMARY KEY,
  tokens REAL NOT NULL,
  at REAL NOT NULL,
  day TEXT NOT NULL,
  used INTEGER NOT NULL
);
