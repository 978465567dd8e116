-- Quota counters per caller (issue 20 item 4), shared by every worker and machine of the hub
-- (cityhub.access.quotas): a token bucket (tokens, at: seconds since the epoch) and the
-- requests of a UTC day. One row per API key, token subject or anonymous address, read
-- FOR UPDATE and written in one transaction per request.
CREATE TABLE access_quotas (
  caller text PRIMARY KEY,
  tokens double precision NOT NULL,
  at double precision NOT NULL,
  day text NOT NULL,
  used integer NOT NULL
);
