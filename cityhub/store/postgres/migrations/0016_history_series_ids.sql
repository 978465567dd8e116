-- cityhub PostgreSQL schema 16: a series' id found or made inside the statement that writes
-- its instances (issue 21), so a write of history rows is one round trip, not three.
--
-- cityhub_series_ids(tenant, entities, attributes, datasetIds) returns the id of each
-- (entity, attribute, datasetId) in the order given, creating the series that do not exist.
-- In a function each statement reads afresh (READ COMMITTED), so a series another transaction
-- creates at the same time is waited for (ON CONFLICT DO NOTHING) and then read.
CREATE FUNCTION cityhub_series_ids(t text, es text[], ats text[], ds text[])
RETURNS integer[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  result integer[];
BEGIN
  SELECT array_agg(s.id ORDER BY u.k) INTO result
    FROM unnest(es, ats, ds) WITH ORDINALITY AS u(e, a, d, k)
    LEFT JOIN history_series s ON s.tenant = t AND s.entity_id = u.e AND s.attr = u.a
      AND s.dataset_id = u.d;
  IF array_position(result, NULL) IS NULL THEN
    RETURN result;
  END IF;
  INSERT INTO history_series (tenant, entity_id, attr, dataset_id)
    SELECT DISTINCT t, u.e, u.a, u.d FROM unnest(es, ats, ds) AS u(e, a, d)
    ORDER BY 2, 3, 4 ON CONFLICT DO NOTHING;
  SELECT array_agg(s.id ORDER BY u.k) INTO result
    FROM unnest(es, ats, ds) WITH ORDINALITY AS u(e, a, d, k)
    LEFT JOIN history_series s ON s.tenant = t AND s.entity_id = u.e AND s.attr = u.a
      AND s.dataset_id = u.d;
  RETURN result;
END
$$;
