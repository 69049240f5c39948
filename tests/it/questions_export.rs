//! Question exports as Metabase writes them, through the real host: the `questions_export`
//! fixture (tools/fixturegen_questions.py writes each export by Metabase's own rules, not the
//! connector's). Card 41 reorders and hides card 27's columns in `table.columns`; 42 shows a
//! foreign key as its target's title (a remap) and a currency column; 43 has display values the
//! card's metadata does not mark; 44 holds every value form of an unformatted export and two
//! columns titled `ID`; 45 fails before its first row (a 400 with JSON), 46 after three rows
//! (JSON appended to the 200 CSV), 47 stops at exactly 10,000 rows (a download cap), and 48's
//! export has a column the card as read does not (edited since).

use crate::common;

use common::*;
use serde_json::{json, Value};

const Q41: &str = "question_41_orders_rearranged";
const Q42: &str = "question_42_orders_with_product_titles";
const Q43: &str = "question_43_reviews_with_rating_names";
const Q44: &str = "question_44_every_value_form";
const Q45: &str = "question_45_fails_before_any_row";
const Q46: &str = "question_46_fails_after_some_rows";
const Q47: &str = "question_47_all_events";
const Q48: &str = "question_48_edited_since";
const ALL: [&str; 8] = [Q41, Q42, Q43, Q44, Q45, Q46, Q47, Q48];

/// `discover`, then a read of every question with its catalog (`test` names the scratch dir).
fn read_all(test: &str) -> (Output, Output) {
    let discover = replay("questions_export", "discover", &[]);
    discover.expect_code(0);
    let path = scratch_dir(test).join("catalog.json");
    write_json(&path, &configured_catalog(discover.catalog(), &ALL));
    let read = replay("questions_export", "read", &["--catalog", path.to_str().unwrap()]);
    (discover, read)
}

fn schema_of(out: &Output, stream: &str) -> Value {
    catalog_stream(out.catalog(), stream)["json_schema"]["properties"].clone()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn error_of(out: &Output, stream: &str) -> String {
    let errors: Vec<&Value> = out.trace_errors().into_iter().filter(|e| e["stream_descriptor"]["name"] == stream).collect();
    assert_eq!(errors.len(), 1, "{stream}: one error\n{}", out.describe());
    error_text(errors[0])
}

#[test]
fn reordering_or_hiding_columns_never_shifts_values() {
    let (discover, out) = read_all("questions_export_order");
    let shown = ["amount", "customer_id_2", "customer_lifetime_value", "first_name", "most_recent_order", "number_of_orders", "order_date", "order_id", "status"];
    let schema = schema_of(&discover, Q41);
    assert_eq!(keys(&schema), shown, "hidden columns are absent from the schema");
    assert!(prop_types(&schema["order_id"]).contains(&"integer".to_string()));
    assert_eq!(schema["order_date"]["format"], "date");

    let rows = out.records(Q41);
    assert_eq!(rows.len(), 60, "{}", out.describe());
    let day = |n: i64| (chrono::NaiveDate::from_ymd_opt(2018, 1, 1).unwrap() + chrono::TimeDelta::days(n)).to_string();
    let statuses = ["completed", "shipped", "returned", "placed", "return_pending"];
    for (i, row) in rows.iter().enumerate() {
        let i = i as i64;
        let cid = 100 + i % 7;
        let expected = json!({
            "status": statuses[(i % 5) as usize], "order_id": i + 1, "customer_id_2": cid, "order_date": day(i),
            "amount": i * 3, "first_name": format!("Name {cid}"), "most_recent_order": day(cid + i),
            "number_of_orders": if i % 10 == 9 { Value::Null } else { json!(cid % 5) }, "customer_lifetime_value": i * 11,
        });
        assert_eq!(*row, &expected, "row {i}: each value under its own column");
    }
    assert_eq!(out.stream_statuses(Q41).last().map(String::as_str), Some("COMPLETE"));
}

#[test]
fn a_remapped_column_is_typed_as_what_arrives() {
    let (discover, out) = read_all("questions_export_remap");
    let schema = schema_of(&discover, Q42);
    assert_eq!(keys(&schema), ["id", "title", "total"], "the remap target replaces the id; no product_id");
    assert_eq!(prop_types(&schema["title"]), ["null", "string"]);
    assert_eq!(prop_types(&schema["total"]), ["null", "number"]);
    let rows = out.records(Q42);
    assert_eq!(rows.len(), 12);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(*row, &json!({"id": i + 1, "title": format!("Product {}", 7 + i % 3), "total": 10.5 * (i + 1) as f64}), "row {i}");
    }
    assert_eq!(out.stream_statuses(Q42).last().map(String::as_str), Some("COMPLETE"));
}

#[test]
fn every_value_form_maps_to_its_declared_type() {
    let (discover, out) = read_all("questions_export_values");
    let schema = schema_of(&discover, Q44);
    for (col, ty) in [("ID", "integer"), ("ID_2", "integer"), ("RATIO", "number"), ("FLAG", "boolean"), ("PAYLOAD", "string"), ("TAGS", "string"), ("AT_TIME", "string")] {
        assert_eq!(prop_types(&schema[col]), ["null", ty], "{col}");
    }
    assert_eq!(schema["CREATED_AT"]["format"], "date-time");
    let rows: Vec<Value> = out.records(Q44).into_iter().cloned().collect();
    let expected = json!([
        {"ID": 1, "ID_2": 1.1805916207174113e21, "RATIO": 12345678.9, "CREATED_AT": "2024-01-02T00:00:00.000000Z",
         "CREATED_TZ": "2024-01-02T10:11:12.000000Z", "DAY": "2024-01-02", "FLAG": true, "PAYLOAD": "{\"a\":1,\"b\":[true,null]}",
         "TAGS": "[1 2 3]", "NOTE": "plain", "AT_TIME": "10:11:12"},
        {"ID": 2, "ID_2": 9223372036854775807i64, "RATIO": 0.0001, "CREATED_AT": "2024-01-02T10:11:12.345000Z",
         "CREATED_TZ": "2024-07-01T04:30:00.000000Z", "DAY": "1969-12-31", "FLAG": false, "PAYLOAD": "\"just a string\"",
         "TAGS": "[\"a\" \"b\"]", "NOTE": "a, \"quoted\"\r\nline", "AT_TIME": "00:00:00"},
        {"ID": 3, "ID_2": -12, "RATIO": -2.5, "CREATED_AT": "1999-12-31T23:59:59.000000Z", "CREATED_TZ": "2000-01-01T00:00:00.000000Z",
         "DAY": "2000-02-29", "FLAG": null, "PAYLOAD": "[1,2]", "TAGS": "[]", "NOTE": "Ünïcødé ✓ 日本語 🙂", "AT_TIME": null},
        {"ID": 4, "ID_2": null, "RATIO": null, "CREATED_AT": null, "CREATED_TZ": null, "DAY": null, "FLAG": null,
         "PAYLOAD": null, "TAGS": null, "NOTE": null, "AT_TIME": null},
        {"ID": 5, "ID_2": 0, "RATIO": 1e21, "CREATED_AT": "2024-03-31T02:30:00.000000Z", "CREATED_TZ": "2024-03-31T00:30:00.000000Z",
         "DAY": "2024-12-31", "FLAG": true, "PAYLOAD": "42", "TAGS": "[nil]", "NOTE": ",", "AT_TIME": "23:59:59.999"},
    ]);
    assert_eq!(Value::Array(rows), expected);
    let warned = out.of_type("LOG").any(|l| l["log"]["message"].as_str().is_some_and(|m| m.contains("`ID_2` holds 1180591620717411303424, beyond 64 bits")));
    assert!(warned, "the rounding is reported\n{}", out.describe());
    assert_eq!(out.stream_statuses(Q44).last().map(String::as_str), Some("COMPLETE"));
}

#[test]
fn a_failed_or_capped_question_fails_alone_with_metabases_message() {
    let (_, out) = read_all("questions_export_failures");
    out.expect_code(1);
    assert!(error_of(&out, Q43).contains("POST /api/card/43/query/csv: row 1, column `rating`: `Awful` is not an integer"));
    assert!(error_of(&out, Q45).contains("answered 400 (Table 40 is not readable by this user.)"));
    assert!(error_of(&out, Q46).contains("the question failed in Metabase (db): Query cancelled: the database closed the connection (after 3 rows"));
    assert!(error_of(&out, Q47).contains("stopped at exactly 10000 rows"));
    let e48 = error_of(&out, Q48);
    assert!(e48.contains("the export's header has 3 columns, the card's columns as Metabase exports them are 2 (column 1: the export has `Region`, the card `ID`)"), "{e48}");
    assert!(e48.contains("run it and save it, then run discover again"), "{e48}");
    assert!(out.records(Q48).is_empty(), "no row is guessed");
    assert_eq!(out.records(Q46), [&json!({"id": 1, "note": "note 1"}), &json!({"id": 2, "note": "note 2"}), &json!({"id": 3, "note": "note 3"})]);
    assert_eq!(out.records(Q47).len(), 10_000, "the rows before the cap stay emitted");
    for q in [Q43, Q45, Q46, Q47, Q48] {
        assert_eq!(out.stream_statuses(q).last().map(String::as_str), Some("INCOMPLETE"), "{q}");
        assert!(out.states_of(q).is_empty(), "{q}: no checkpoint");
    }
    for q in [Q41, Q42, Q44] {
        assert_eq!(out.states_of(q).len(), 1, "{q}: the others complete");
    }
}

/// A loopback Metabase of one question (card 5: `ID` integer, `Total` float) whose
/// `session/properties` and CSV export are given.
fn one_question_server(properties: Value, csv: &'static str) -> common::http::Loopback {
    let meta = json!([
        {"name": "id", "display_name": "ID", "base_type": "type/Integer", "effective_type": "type/Integer", "field_ref": ["field", 1, null], "id": 1},
        {"name": "total", "display_name": "Total", "base_type": "type/Float", "effective_type": "type/Float", "field_ref": ["field", 2, null], "id": 2},
    ]);
    let card = json!({"id": 5, "name": "Sales", "archived": false, "collection_id": null, "result_metadata": meta, "visualization_settings": {}});
    let user = json!({"id": 1, "email": "admin@example.com", "is_superuser": true});
    common::http::Loopback::start(64, std::time::Duration::from_secs(120), move |req, mut stream| {
        let (mime, body) = match req.path() {
            "/api/session/properties" => ("application/json", properties.to_string()),
            "/api/user/current" => ("application/json", user.to_string()),
            "/api/card" => ("application/json", json!([card]).to_string()),
            "/api/card/5" => ("application/json", card.to_string()),
            "/api/card/5/query/csv" => ("text/csv", csv.to_string()),
            _ => ("text/plain", String::new()),
        };
        let status = if body.is_empty() { 404 } else { 200 };
        common::http::write_response(&mut stream, status, common::http::reason(status), &[("Content-Type".into(), mime.into())], body.as_bytes(), None);
    })
}

/// `discover`, then a read of `question_5_sales`, against `server`.
fn discover_and_read(server: &common::http::Loopback, test: &str) -> (Output, Output) {
    let dir = scratch_dir(test);
    let config = dir.join("config.json");
    let catalog = dir.join("catalog.json");
    write_json(&config, &json!({"instance_api_url": format!("http://127.0.0.1:{}/api", server.port), "api_key": "mb_bG9vcGJhY2sta2V5LWZvci10ZXN0cw", "questions": "ids", "question_ids": [5]}));
    let discover = run_host(&["discover", "--config", config.to_str().unwrap()]);
    discover.expect_code(0);
    write_json(&catalog, &configured_catalog(discover.catalog(), &["question_5_sales"]));
    let read = run_host(&["read", "--config", config.to_str().unwrap(), "--catalog", catalog.to_str().unwrap()]);
    (discover, read)
}

#[test]
fn an_admins_csv_separator_is_read_from_the_settings() {
    let server = one_question_server(json!({"version": {"tag": "v0.56.2"}, "csv-field-separator": ";"}), "ID;Total\n1;2.5\n2;1.0E-4\n");
    let (_, read) = discover_and_read(&server, "questions_export_separator");
    assert_eq!(read.records("question_5_sales"), [&json!({"id": 1, "total": 2.5}), &json!({"id": 2, "total": 0.0001})], "{}", read.describe());
    assert_eq!(read.stream_statuses("question_5_sales").last().map(String::as_str), Some("COMPLETE"));
}

#[test]
fn display_formatted_values_of_049_are_kept_as_text_with_a_warning() {
    let server = one_question_server(json!({"version": {"tag": "v0.49.1"}}), "ID,Total\n\"1,234\",$2.50\n");
    let (discover, read) = discover_and_read(&server, "questions_export_049");
    let props = &catalog_stream(discover.catalog(), "question_5_sales")["json_schema"]["properties"];
    assert_eq!(prop_types(&props["id"]), ["null", "string"], "{props}");
    assert_eq!(prop_types(&props["total"]), ["null", "string"]);
    assert_eq!(read.records("question_5_sales"), [&json!({"id": "1,234", "total": "$2.50"})], "{}", read.describe());
    let warned = read.of_type("LOG").any(|l| l["log"]["level"] == "WARN" && l["log"]["message"].as_str().is_some_and(|m| m.contains("formatted for display")));
    assert!(warned, "{}", read.describe());
}
