// The Airbyte `AirbyteStream` JSON of a discovered stream, as host-harness writes it
// (host-harness/src/airbyte/catalog.rs `stream_json`).

const TYPES = {
  string: ['string'],
  integer: ['integer'],
  number: ['number'],
  boolean: ['boolean'],
  timestamp: ['string', { format: 'date-time', airbyte_type: 'timestamp_with_timezone' }],
  date: ['string', { format: 'date' }],
  array: ['array'],
  object: ['object'],
};

const SYNC_MODES = { 'full-refresh': 'full_refresh', incremental: 'incremental' };

export function streamJson(s) {
  const properties = {};
  for (const f of s.fields) {
    const [ty, extra] = TYPES[f.type];
    const prop = { type: f.nullable ? ['null', ty] : ty, ...(extra ?? {}) };
    if (f.description !== undefined) prop.description = f.description;
    properties[f.name] = prop;
  }
  const out = {
    name: s.name,
    json_schema: {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      additionalProperties: true,
      properties,
    },
    supported_sync_modes: s.syncModes.map((m) => SYNC_MODES[m]),
    source_defined_primary_key: s.primaryKey.map((k) => [k]),
  };
  if (s.cursorField !== undefined) {
    out.source_defined_cursor = true;
    out.default_cursor_field = [s.cursorField];
  }
  // The protocol's AirbyteStream has no description field; JSON Schema's own carries it.
  if (s.description !== undefined) out.json_schema.description = s.description;
  return out;
}
