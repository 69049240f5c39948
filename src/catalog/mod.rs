//! What `discover` offers: the stream table, and each stream (object or
//! saved question) as the host's `stream-info`.

pub mod streams;

use crate::questions;
use crate::wit;

pub fn stream_info(def: &streams::StreamDef) -> wit::StreamInfo {
    wit::StreamInfo {
        name: def.name.to_string(),
        description: Some(def.description.to_string()),
        fields: def
            .fields
            .iter()
            .map(|f| wit::Field {
                name: f.name.to_string(),
                type_: f.ty,
                // Only the primary key is guaranteed; Metabase sends nulls
                // (or omits keys) for everything else across versions.
                nullable: !def.primary_key.contains(&f.name),
                description: None,
            })
            .collect(),
        primary_key: def.primary_key.iter().map(|k| k.to_string()).collect(),
        cursor_field: def.cursor.map(str::to_string),
        sync_modes: if def.cursor.is_some() {
            vec![wit::SyncMode::FullRefresh, wit::SyncMode::Incremental]
        } else {
            vec![wit::SyncMode::FullRefresh]
        },
    }
}

pub fn question_info(q: &questions::Question) -> wit::StreamInfo {
    let description = match &q.target {
        questions::Target::Card(entry) if entry.parameters.is_empty() => format!(
            "Results of the saved question {} “{}” (POST /api/card/{}/query/csv: every row, no 2,000-row cap).",
            entry.card_id, q.name, entry.card_id
        ),
        questions::Target::Card(entry) => {
            let values: Vec<String> = entry.parameters.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            format!(
                "Results of the saved question {} “{}” with {} (POST /api/card/{}/query/csv: every row, no 2,000-row cap).",
                entry.card_id, q.name, values.join(", "), entry.card_id
            )
        }
        questions::Target::Query(query) => format!(
            "Results of the configured query “{}” on database {} (POST /api/dataset/csv: every row, no 2,000-row cap).",
            query.name, query.database_id
        ),
    };
    let cursor = q.target.cursor().map(|c| c.column.clone());
    wit::StreamInfo {
        name: q.stream.clone(),
        description: Some(description),
        fields: q
            .columns
            .iter()
            .map(|(name, ty)| wit::Field { name: name.clone(), type_: *ty, nullable: true, description: None })
            .collect(),
        // Query results have no key; a cursor only when the config names one.
        primary_key: vec![],
        sync_modes: if cursor.is_some() {
            vec![wit::SyncMode::FullRefresh, wit::SyncMode::Incremental]
        } else {
            vec![wit::SyncMode::FullRefresh]
        },
        cursor_field: cursor,
    }
}
