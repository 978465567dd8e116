-- The q value index (cityhub/store/postgres/qindex.py): per entity, attribute and entity type,
-- the texts a top-level q equality term compares (cityhub/store/qvalues.py), so that
-- type=T&q=name=="x" reads the entities that have the text instead of every entity of T.
-- Keyed for the lookup (tenant, attr, v, type); the hub deletes exact rows (all five columns),
-- so no other index is written.
CREATE TABLE q_index (
  tenant text NOT NULL,
  attr text NOT NULL,
  v text NOT NULL,
  type text NOT NULL,
  entity_id text NOT NULL,
  PRIMARY KEY (tenant, attr, v, type, entity_id)
);

-- cityhub.store.qvalues.entity_values in SQL (tests/postgres/test_pg_qindex.py holds them
-- equal): of every instance (an object, not a GeoProperty) of every attribute, the strings of
-- its first present member among value (its @value when it has one), object, vocab, json and
-- valueList (JSON null is absent; a scalar is its own element, an object gives none), every
-- string inside its languageMap, every object of its objectList; texts of at most 256
-- characters.
CREATE FUNCTION cityhub_q_values(attrs jsonb) RETURNS TABLE (attr text, v text)
LANGUAGE sql IMMUTABLE AS $$
  SELECT DISTINCT a.key, s.v
  FROM jsonb_each(CASE WHEN jsonb_typeof(attrs) = 'object' THEN attrs ELSE '{}'::jsonb END) a,
  jsonb_array_elements(CASE WHEN jsonb_typeof(a.value) = 'array' THEN a.value
                       ELSE '[]'::jsonb END) i(inst),
  LATERAL (
    SELECT f.x #>> '{}' AS v
    FROM (SELECT COALESCE(
            CASE WHEN jsonb_typeof(i.inst -> 'value') = 'object'
                 THEN NULLIF(i.inst -> 'value' -> '@value', 'null'::jsonb) END,
            NULLIF(i.inst -> 'value', 'null'::jsonb),
            NULLIF(i.inst -> 'object', 'null'::jsonb),
            NULLIF(i.inst -> 'vocab', 'null'::jsonb),
            NULLIF(i.inst -> 'json', 'null'::jsonb),
            NULLIF(i.inst -> 'valueList', 'null'::jsonb)) AS t) m,
         jsonb_array_elements(CASE jsonb_typeof(m.t) WHEN 'array' THEN m.t
                              WHEN 'string' THEN jsonb_build_array(m.t)
                              ELSE '[]'::jsonb END) f(x)
    WHERE jsonb_typeof(f.x) = 'string'
    UNION ALL
    SELECT l.x #>> '{}' FROM jsonb_path_query(i.inst -> 'languageMap', 'strict $.**') l(x)
    WHERE jsonb_typeof(l.x) = 'string'
    UNION ALL
    SELECT o.x ->> 'object'
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(i.inst -> 'objectList') = 'array'
                              THEN i.inst -> 'objectList' ELSE '[]'::jsonb END) o(x)
    WHERE jsonb_typeof(o.x) = 'object' AND jsonb_typeof(o.x -> 'object') = 'string'
  ) s
  WHERE jsonb_typeof(i.inst) = 'object'
    AND (i.inst ->> 'type') IS DISTINCT FROM 'GeoProperty'
    AND length(s.v) <= 256
$$;

INSERT INTO q_index (tenant, attr, v, type, entity_id)
SELECT e.tenant, q.attr, q.v, t.type, e.id
FROM entities e
CROSS JOIN LATERAL cityhub_q_values(e.attrs) q
CROSS JOIN LATERAL jsonb_array_elements_text(e.types) t(type)
ON CONFLICT DO NOTHING;
