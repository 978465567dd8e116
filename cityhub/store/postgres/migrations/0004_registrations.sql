-- cityhub PostgreSQL schema 4: context source registrations and registration subscriptions
-- (clauses 5.9-5.11), the tables of cityhub.store.sqlite.registrations: one row per registration
-- and side tables with one row per RegistrationInfo, EntityInfo and attribute name, so that
-- discovery by type, id, idPattern and attribute is a join, not a scan of documents.
CREATE TABLE csource_registrations (
  tenant text NOT NULL,
  id text NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,  -- creation order
  expires_at text,                          -- canonical UTC date-time, compared byte-wise
  doc jsonb NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX csource_registrations_by_seq ON csource_registrations (tenant, seq);

CREATE TABLE csource_registration_infos (
  tenant text NOT NULL,
  registration_id text NOT NULL,
  info integer NOT NULL,
  any_entity boolean NOT NULL,
  any_attribute boolean NOT NULL,
  PRIMARY KEY (tenant, registration_id, info)
);

CREATE TABLE csource_registration_entities (
  tenant text NOT NULL,
  registration_id text NOT NULL,
  info integer NOT NULL,
  type text NOT NULL,
  entity_id text,
  id_pattern text
);
CREATE INDEX csource_registration_entities_by_type ON csource_registration_entities (tenant, type);
CREATE INDEX csource_registration_entities_by_info
  ON csource_registration_entities (tenant, registration_id, info);

CREATE TABLE csource_registration_attrs (
  tenant text NOT NULL,
  registration_id text NOT NULL,
  info integer NOT NULL,
  name text NOT NULL,
  PRIMARY KEY (tenant, registration_id, info, name)
);
CREATE INDEX csource_registration_attrs_by_name ON csource_registration_attrs (tenant, name);

CREATE TABLE csource_subscriptions (
  tenant text NOT NULL,
  id text NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  doc jsonb NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX csource_subscriptions_by_seq ON csource_subscriptions (tenant, seq);

-- a stored idPattern PostgreSQL cannot compile matches nothing, instead of failing every
-- discovery query that meets it
CREATE FUNCTION ngsild_safe_regexp(pattern text, s text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN s ~ pattern;
EXCEPTION WHEN others THEN
  RETURN false;
END
$$;
