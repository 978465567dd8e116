-- The index of attribute texts that q equality terms look up (see qindex.py).
CREATE TABLE IF NOT EXISTS q_index (
  tenant TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  attr TEXT NOT NULL,
  v TEXT NOT NULL,
  type TEXT NOT NULL,
  PRIMARY KEY (tenant, entity_id, attr, v, type)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS q_index_by_value ON q_index (tenant, attr, v, type, entity_id);
