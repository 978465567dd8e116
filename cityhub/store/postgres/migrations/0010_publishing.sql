-- cityhub PostgreSQL schema 10: open data publishing rules (issue 19,
-- cityhub.store.publishing), as in cityhub.store.sqlite's publishing migration.
CREATE TABLE publishing_rules (
  tenant text NOT NULL,
  type text NOT NULL,
  doc jsonb NOT NULL,
  created_at text NOT NULL,
  modified_at text NOT NULL,
  PRIMARY KEY (tenant, type)
);
