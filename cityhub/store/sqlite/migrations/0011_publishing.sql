-- Open data publishing rules (issue 19, cityhub.store.publishing): per tenant and entity type
-- (its IRI), what is public; the document holds the attributes, licence, attribution, history.
CREATE TABLE IF NOT EXISTS publishing_rules (
  tenant TEXT NOT NULL,
  type TEXT NOT NULL,
  doc TEXT NOT NULL,
  created_at TEXT NOT NULL,
  modified_at TEXT NOT NULL,
  PRIMARY KEY (tenant, type)
);
