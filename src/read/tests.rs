//! The reader end to end, over a scripted transport.

use super::*;
use crate::wit::{SyncMode, Value};
use super::columns::{names, rows_of as batch_rows};
use crate::api::client::tests::Scripted;
use crate::api::transport::TransportError;

fn no_log(_: LogLevel, _: &str) {}

/// One request in flight: the script answers in the order requests are made.
const CFG: &str = r#"{"instance_api_url":"https://mb.example.com","api_key":"mb_k","page_size":2,"include_archived":false,"include_deactivated_users":false,"max_concurrent_requests":1}"#;
/// `GET /api/session/properties`, the first request of every read (the fixture server's shape).
const PROPS: &str = r#"{"version":{"date":"2024-06-18","tag":"v0.50.5","hash":"48f6978","branch":"release-x.50.x"},"site-name":"Fixture Metabase"}"#;

/// A transport answering the version probe, then `answers`.
fn scripted(mut answers: Vec<std::result::Result<(u16, &str), TransportError>>) -> Scripted {
    answers.insert(0, Ok((200, PROPS)));
    Scripted::new(answers)
}

fn sel(name: &str, incremental: bool) -> SelectedStream {
    SelectedStream {
        name: name.into(),
        sync_mode: if incremental { SyncMode::Incremental } else { SyncMode::FullRefresh },
    }
}

pub(super) fn drain(r: &mut Reader<Scripted>) -> Vec<std::result::Result<Batch, Error>> {
    let mut out = vec![];
    loop {
        match r.next() {
            Ok(Some(b)) => out.push(Ok(b)),
            Ok(None) => return out,
            Err(e) => out.push(Err(e)),
        }
    }
}

fn ids(batches: &[std::result::Result<Batch, Error>]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| b.as_ref().ok())
        .flat_map(|b| batch_rows(b).into_iter().map(|r| match r[0] { Value::Integer(i) => i, _ => -1 }))
        .collect()
}

#[test]
fn users_are_paged_until_the_total() {
    let answers = vec![
        Ok((200, r#"{"data":[{"id":1},{"id":2}],"total":5,"limit":2,"offset":0}"#)),
        Ok((200, r#"{"data":[{"id":3},{"id":4}],"total":5,"limit":2,"offset":2}"#)),
        Ok((200, r#"{"data":[{"id":5}],"total":5,"limit":2,"offset":4}"#)),
    ];
    let mut r = Reader::open(scripted(answers), CFG, &[sel("users", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    assert_eq!(ids(&out), vec![1, 2, 3, 4, 5]);
    let last = out.last().unwrap().as_ref().unwrap();
    assert_eq!(last.checkpoint.as_deref(), Some("{}"));
    let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
    assert_eq!(
        paths,
        ["/api/session/properties", "/api/user?tenancy=all&limit=2&offset=0", "/api/user?tenancy=all&limit=2&offset=2", "/api/user?tenancy=all&limit=2&offset=4"]
    );
}

#[test]
fn a_server_ignoring_paging_is_read_once() {
    let answers = vec![Ok((200, r#"{"data":[{"id":1},{"id":2}],"total":2,"limit":null,"offset":null}"#))];
    let mut r = Reader::open(scripted(answers), CFG, &[sel("users", false)], None, no_log).unwrap();
    assert_eq!(ids(&drain(&mut r)), vec![1, 2]);
}

#[test]
fn incremental_filters_and_checkpoints_the_newest_cursor() {
    let body = r#"[{"id":1,"updated_at":"2024-01-01T00:00:00Z"},{"id":2,"updated_at":"2024-03-01T00:00:00Z"},{"id":3,"updated_at":"2024-02-01T00:00:00+01:00"}]"#;
    let state = r#"{"cards":{"updated_at":"2024-01-15T00:00:00.000000Z"}}"#;
    let mut r = Reader::open(scripted(vec![Ok((200, body))]), CFG, &[sel("cards", true)], Some(state), no_log).unwrap();
    let out = drain(&mut r);
    assert_eq!(ids(&out), vec![2, 3]);
    assert_eq!(
        out.last().unwrap().as_ref().unwrap().checkpoint.as_deref(),
        Some(r#"{"updated_at":"2024-03-01T00:00:00.000000Z"}"#)
    );
}

#[test]
fn a_broken_stream_fails_alone_and_keeps_its_cursor() {
    // The cards body breaks on the first try and on both retries.
    let broken = r#"[{"id":1,"updated_at":"2024-01-01T00:00:00Z"},{"id":2,"#;
    let answers = vec![
        Ok((200, broken)),
        Ok((200, broken)),
        Ok((200, broken)),
        Ok((403, "You don't have permissions to do that.")),
        Ok((200, r#"[{"id":"root"},{"id":7}]"#)),
    ];
    let selection = [sel("cards", true), sel("users", false), sel("collections", false)];
    let mut r = Reader::open(scripted(answers), CFG, &selection, None, no_log).unwrap();
    let mut out = drain(&mut r);
    // The row read before the break is handed over (once, no checkpoint), then the error.
    let first = out.remove(0).unwrap();
    assert_eq!((first.rows, first.checkpoint.is_none()), (1, true));
    let cards = out[0].as_ref().unwrap_err();
    assert_eq!((cards.kind, cards.stream.as_deref()), (crate::error::Kind::Transient, Some("cards")));
    assert!(cards.message.contains("ended in the middle"), "{}", cards.message);
    let users = out[1].as_ref().unwrap_err();
    assert_eq!((users.kind, users.stream.as_deref()), (crate::error::Kind::Unavailable, Some("users")));
    assert_eq!(
        users.message,
        "Permission denied: GET /api/user?tenancy=all&limit=2&offset=0 answered 403 (You don't have permissions to do that.). Reading `users` needs an admin or group-manager account."
    );
    let collections = out[2].as_ref().unwrap();
    assert_eq!(batch_rows(collections)[0][0], Value::String("root".into()));
    assert_eq!(batch_rows(collections)[1][0], Value::String("7".into()));
}

#[test]
fn a_body_that_breaks_is_read_again_without_duplicates() {
    // The first answer is cut after two rows; the second is whole, in
    // another order, with one row added meanwhile.
    let answers = vec![
        Ok((200, r#"[{"id":1},{"id":2},{"id":"#)),
        Ok((200, r#"[{"id":2},{"id":4},{"id":1},{"id":3}]"#)),
    ];
    let mut r = Reader::open(scripted(answers), CFG, &[sel("dashboards", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    assert!(out.iter().all(|b| b.is_ok()), "{:?}", out.iter().filter_map(|b| b.as_ref().err()).collect::<Vec<_>>());
    assert_eq!(ids(&out), vec![1, 2, 4, 3]);
    assert!(out.last().unwrap().as_ref().unwrap().checkpoint.is_some());

    // A body that keeps breaking fails the stream after the retries.
    let broken = r#"[{"id":1},{"id":"#;
    let answers = vec![Ok((200, broken)), Ok((200, broken)), Ok((200, broken))];
    let mut r = Reader::open(scripted(answers), CFG, &[sel("dashboards", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    let e = out.iter().find_map(|b| b.as_ref().err()).expect("the stream fails");
    assert_eq!((e.kind, e.stream.as_deref()), (crate::error::Kind::Transient, Some("dashboards")));
    assert_eq!(ids(&out), vec![1], "the row read before the first break is emitted once");
}

#[test]
fn bad_credentials_end_the_whole_read() {
    let answers = vec![Ok((401, "Unauthenticated"))];
    let mut r = Reader::open(scripted(answers), CFG, &[sel("cards", false), sel("users", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    assert_eq!(out.len(), 1);
    let e = out[0].as_ref().unwrap_err();
    assert_eq!(e.stream, None);
    assert_eq!(
        e.message,
        "Metabase did not accept the credentials: GET /api/card answered 401 (Unauthenticated). Check `api_key`."
    );
}

#[test]
fn big_lists_come_in_bounded_batches() {
    let body = format!("[{}]", (0..2500).map(|i| format!(r#"{{"id":{i}}}"#)).collect::<Vec<_>>().join(","));
    let mut r = Reader::open(scripted(vec![Ok((200, &body))]), CFG, &[sel("dashboards", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    let sizes: Vec<_> = out.iter().map(|b| b.as_ref().unwrap().rows as usize).collect();
    let mut want = vec![BATCH_ROWS; 2500 / BATCH_ROWS];
    want.push(2500 % BATCH_ROWS);
    assert_eq!(sizes, want);
    assert!(out[..out.len() - 1].iter().all(|b| b.as_ref().unwrap().checkpoint.is_none()));
    assert!(out.last().unwrap().as_ref().unwrap().checkpoint.is_some());
}

#[test]
fn big_rows_come_in_batches_bounded_by_bytes() {
    let pad = "x".repeat(300 * 1024);
    let body = format!("[{}]", (0..10).map(|i| format!(r#"{{"id":{i},"p":"{pad}"}}"#)).collect::<Vec<_>>().join(","));
    let mut r = Reader::open(scripted(vec![Ok((200, &body))]), CFG, &[sel("dashboards", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    let sizes: Vec<_> = out.iter().map(|b| b.as_ref().unwrap().rows as usize).collect();
    // 300 KiB rows: a batch closes at the first row that reaches 1 MiB.
    let per = BATCH_BYTES.div_ceil(pad.len() + 20);
    assert_eq!(sizes.iter().sum::<usize>(), 10);
    assert!(sizes.iter().all(|n| *n <= per), "{sizes:?}");
    assert_eq!(ids(&out), (0..10).collect::<Vec<i64>>());
}

#[test]
fn open_rejects_unknown_streams_and_bad_state() {
    let e = Reader::open(scripted(vec![]), CFG, &[sel("nope", false)], None, no_log).err().unwrap();
    assert!(e.message.starts_with("catalog: unknown stream `nope`; this connector has: cards,"), "{}", e.message);
    let e = Reader::open(scripted(vec![]), CFG, &[sel("cards", true)], Some(r#"{"cards":{"updated_at":"soon"}}"#), no_log)
        .err()
        .unwrap();
    assert_eq!(e.message, "state.cards.updated_at: not a timestamp (\"soon\")");
    let e = Reader::open(scripted(vec![]), CFG, &[], Some("[1]"), no_log).err().unwrap();
    assert!(e.message.starts_with("state: must be a JSON object"));
}

#[test]
fn connection_failures_are_transient_and_named() {
    let cfg = r#"{"instance_api_url":"https://mb.example.com","api_key":"mb_k","max_retries":0,"include_archived":false}"#;
    let answers = vec![Err(TransportError::Connection("connection refused".into()))];
    let mut r = Reader::open(scripted(answers), cfg, &[sel("cards", false)], None, no_log).unwrap();
    let e = r.next().unwrap_err();
    assert_eq!((e.kind, e.stream.as_deref()), (crate::error::Kind::Transient, Some("cards")));
    assert_eq!(e.message, "GET /api/card failed: connection refused (gave up after 1 attempt)");
}

fn rows_of(out: &[std::result::Result<Batch, Error>], stream: &str) -> Vec<Vec<Value>> {
    out.iter().flat_map(|b| b.as_ref().ok()).filter(|b| b.stream == stream).flat_map(batch_rows).collect()
}

fn col(batch_out: &[std::result::Result<Batch, Error>], stream: &str, name: &str) -> Vec<Value> {
    let b = batch_out.iter().flat_map(|b| b.as_ref().ok()).find(|b| b.stream == stream).unwrap();
    let i = names(b).iter().position(|c| c == name).unwrap_or_else(|| panic!("{stream} has no column {name}"));
    rows_of(batch_out, stream).iter().map(|r| r[i].clone()).collect()
}

#[test]
fn per_parent_streams_read_every_parent_and_skip_deleted_ones() {
    let answers = vec![
        Ok((200, r#"[{"id":2,"name":"a"},{"id":7,"name":"b"}]"#)),
        Ok((200, r#"{"id":2,"param_values":{"x":[1,{"y":"]"}]},"dashcards":[{"id":32,"dashboard_id":2,"card_id":27,"row":0,"col":0,"sizeX":12,"sizeY":9,"updated_at":"2024-06-19T11:57:59.706516Z"},{"id":33,"dashboard_id":2,"card_id":null,"row":9,"col":0,"size_x":6,"size_y":3}],"tabs":[]}"#)),
        Ok((404, "Not found.")),
    ];
    let mut r = Reader::open(scripted(answers), CFG, &[sel("dashboard_cards", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    assert!(out.iter().all(|b| b.is_ok()), "{out:?}");
    assert_eq!(ids(&out), vec![32, 33]);
    assert_eq!(col(&out, "dashboard_cards", "size_x"), vec![Value::Integer(12), Value::Integer(6)], "0.4x sizeX is size_x");
    assert_eq!(col(&out, "dashboard_cards", "card_id"), vec![Value::Integer(27), Value::Null]);
    let b = out.last().unwrap().as_ref().unwrap();
    assert!(!names(b).iter().any(|c| c == "sizeX"));
    assert_eq!(b.checkpoint.as_deref(), Some(r#"{"updated_at":"2024-06-19T11:57:59.706516Z"}"#));
    let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
    assert_eq!(paths, ["/api/session/properties", "/api/dashboard", "/api/dashboard/2", "/api/dashboard/7"]);
}

#[test]
fn a_parent_read_before_its_child_lends_it_its_list() {
    // The parent's ids are kept from its own read only when a child follows
    // (a parent read alone keeps none: they would only fill memory).
    let answers = vec![
        Ok((200, r#"[{"id":2,"name":"a"},{"id":7,"name":"b"}]"#)),
        Ok((200, r#"{"id":2,"dashcards":[{"id":32,"dashboard_id":2}],"tabs":[]}"#)),
        Ok((200, r#"{"id":7,"dashcards":[],"tabs":[]}"#)),
    ];
    let selection = [sel("dashboards", false), sel("dashboard_cards", false)];
    let mut r = Reader::open(scripted(answers), CFG, &selection, None, no_log).unwrap();
    let out = drain(&mut r);
    assert!(out.iter().all(|b| b.is_ok()), "{out:?}");
    assert_eq!(col(&out, "dashboards", "id"), vec![Value::Integer(2), Value::Integer(7)]);
    assert_eq!(col(&out, "dashboard_cards", "id"), vec![Value::Integer(32)]);
    let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
    assert_eq!(paths, ["/api/session/properties", "/api/dashboard", "/api/dashboard/2", "/api/dashboard/7"]);
}

#[test]
fn cards_and_tabs_of_a_dashboard_come_from_one_answer() {
    let detail = |id: i64, tab: i64| {
        format!(
            r#"{{"id":{id},"tabs":[{{"id":{tab},"dashboard_id":{id},"name":"One","position":0}},{{"id":{},"dashboard_id":{id},"name":"Two","position":1}}],"dashcards":[{{"id":{},"dashboard_id":{id},"dashboard_tab_id":{tab}}}],"name":"d"}}"#,
            tab + 1,
            id * 10
        )
    };
    let (d2, d7) = (detail(2, 20), detail(7, 70));
    let answers = vec![Ok((200, r#"[{"id":2},{"id":7}]"#)), Ok((200, d2.as_str())), Ok((200, d7.as_str()))];
    let selection = [sel("dashboard_cards", false), sel("dashboard_tabs", false)];
    let mut r = Reader::open(scripted(answers), CFG, &selection, None, no_log).unwrap();
    let out = drain(&mut r);
    assert!(out.iter().all(|b| b.is_ok()), "{out:?}");
    assert_eq!(col(&out, "dashboard_cards", "id"), vec![Value::Integer(20), Value::Integer(70)]);
    assert_eq!(col(&out, "dashboard_tabs", "id"), [20, 21, 70, 71].map(Value::Integer).to_vec());
    assert_eq!(col(&out, "dashboard_tabs", "dashboard_id"), [2, 2, 7, 7].map(Value::Integer).to_vec());
    let ends: Vec<&str> = out.iter().flat_map(|b| b.as_ref().ok()).filter(|b| b.checkpoint.is_some()).map(|b| b.stream.as_str()).collect();
    assert_eq!(ends, ["dashboard_cards", "dashboard_tabs"], "each stream ends with its checkpoint");
    let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
    assert_eq!(paths, ["/api/session/properties", "/api/dashboard", "/api/dashboard/2", "/api/dashboard/7"]);
}

#[test]
fn tables_and_fields_share_the_database_list_and_skip_saved_questions() {
    let meta = r#"{"id":2,"name":"db","tables":[{"id":10,"db_id":2,"name":"orders","fields":[{"id":1,"table_id":10},{"id":2,"table_id":10}]},{"id":11,"db_id":2,"fields":[{"id":3,"table_id":11}]}],"features":["x"]}"#;
    let answers = vec![
        Ok((200, r#"{"data":[{"id":-1337,"name":"Saved Questions"},{"id":2}],"total":2}"#)),
        Ok((200, meta)),
        Ok((200, meta)),
    ];
    let selection = [sel("fields", false), sel("tables", false)];
    let mut r = Reader::open(scripted(answers), CFG, &selection, None, no_log).unwrap();
    let out = drain(&mut r);
    assert_eq!(rows_of(&out, "fields").len(), 3);
    assert_eq!(col(&out, "fields", "table_id"), vec![Value::Integer(10), Value::Integer(10), Value::Integer(11)]);
    assert_eq!(col(&out, "tables", "id"), vec![Value::Integer(10), Value::Integer(11)]);
    let tables = out.iter().flat_map(|b| b.as_ref().ok()).find(|b| b.stream == "tables").unwrap();
    assert!(!names(tables).iter().any(|c| c == "fields"), "tables do not carry their fields");
    let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
    assert_eq!(paths, ["/api/session/properties", "/api/database", "/api/database/2/metadata?include_hidden=true"], "one metadata answer feeds both");
}

/// A database still syncing (or with nothing visible) answers `"tables": []`:
/// zero fields, and the stream completes, read alone or with `tables`.
#[test]
fn a_database_without_tables_gives_no_fields_and_completes() {
    let empty = r#"{"id":3,"name":"syncing","tables":[],"features":[]}"#;
    for selection in [vec![sel("fields", true)], vec![sel("tables", true), sel("fields", true)]] {
        let answers = vec![Ok((200, r#"{"data":[{"id":3}],"total":1}"#)), Ok((200, empty))];
        let mut r = Reader::open(scripted(answers), CFG, &selection, None, no_log).unwrap();
        let out = drain(&mut r);
        assert!(out.iter().all(|b| b.is_ok()), "{out:?}");
        let fields: Vec<&Batch> = out.iter().flat_map(|b| b.as_ref().ok()).filter(|b| b.stream == "fields").collect();
        assert_eq!(fields.iter().map(|b| b.rows as usize).sum::<usize>(), 0);
        assert_eq!(fields.last().and_then(|b| b.checkpoint.as_deref()), Some("{}"), "the stream ends with its checkpoint");
    }
}

#[test]
fn memberships_from_the_map_or_from_group_details() {
    let map = r#"{"1":[{"membership_id":1,"group_id":1,"user_id":1,"is_group_manager":false},{"membership_id":2,"group_id":2,"user_id":1,"is_group_manager":false}],"2":[{"membership_id":3,"group_id":1,"user_id":2,"is_group_manager":true}]}"#;
    let mut r = Reader::open(scripted(vec![Ok((200, map))]), CFG, &[sel("permission_group_memberships", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    assert_eq!(ids(&out), vec![1, 2, 3]);
    assert_eq!(col(&out, "permission_group_memberships", "user_id"), vec![Value::Integer(1), Value::Integer(1), Value::Integer(2)]);

    let answers = vec![
        Ok((404, "API endpoint does not exist.")),
        Ok((200, r#"[{"id":1,"name":"All Users","member_count":1},{"id":2,"name":"Administrators","member_count":1}]"#)),
        Ok((200, r#"{"id":1,"name":"All Users","members":[{"user_id":1,"membership_id":11,"group_id":1,"email":"a@b.c"}]}"#)),
        Ok((200, r#"{"id":2,"name":"Administrators","members":[{"user_id":1,"membership_id":12,"group_id":2}]}"#)),
    ];
    let mut r = Reader::open(scripted(answers), CFG, &[sel("permission_group_memberships", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    assert!(out.iter().all(|b| b.is_ok()), "{out:?}");
    assert_eq!(ids(&out), vec![11, 12]);
    let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
    assert_eq!(
        paths,
        ["/api/session/properties", "/api/permissions/membership", "/api/permissions/group", "/api/permissions/group/1", "/api/permissions/group/2"]
    );
}

#[test]
fn a_missing_notification_endpoint_skips_the_stream() {
    let answers = vec![Ok((404, "API endpoint does not exist.")), Ok((200, "[]"))];
    let selection = [sel("notifications", true), sel("alerts", false)];
    let state = r#"{"notifications":{"updated_at":"2024-01-01T00:00:00.000000Z"}}"#;
    let mut r = Reader::open(scripted(answers), CFG, &selection, Some(state), no_log).unwrap();
    let out = drain(&mut r);
    assert_eq!(out.len(), 2, "{out:?}");
    let n = out[0].as_ref().unwrap();
    assert_eq!((n.stream.as_str(), n.rows), ("notifications", 0));
    assert_eq!(n.checkpoint.as_deref(), Some(r#"{"updated_at":"2024-01-01T00:00:00.000000Z"}"#), "the cursor is kept");
    assert_eq!(out[1].as_ref().unwrap().stream, "alerts");
}

#[test]
fn collection_items_are_paged_per_collection_and_keyed_by_it() {
    let answers = vec![
        Ok((200, r#"[{"id":"root","name":"Our analytics"},{"id":7,"name":"x"}]"#)),
        Ok((200, r#"{"total":3,"data":[{"model":"card","id":1},{"model":"dashboard","id":1}],"models":["card","dashboard"],"limit":2,"offset":0}"#)),
        Ok((200, r#"{"total":3,"data":[{"model":"collection","id":7}],"models":["collection"],"limit":2,"offset":2}"#)),
        Ok((200, r#"{"total":1,"data":[{"model":"card","id":1,"collection_id":7}],"models":["card"],"limit":2,"offset":0}"#)),
    ];
    let mut r = Reader::open(scripted(answers), CFG, &[sel("collection_items", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    let parents = col(&out, "collection_items", "parent_collection_id");
    let s = |x: &str| Value::String(x.into());
    assert_eq!(parents, vec![s("root"), s("root"), s("root"), s("7")]);
    let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
    assert_eq!(
        paths,
        [
            "/api/session/properties",
            "/api/collection",
            "/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=0",
            "/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=2",
            "/api/collection/7/items?show_dashboard_questions=true&limit=2&offset=0",
        ]
    );
}

#[test]
fn archived_and_deactivated_objects_are_read_by_default() {
    let cfg = r#"{"instance_api_url":"https://mb.example.com","api_key":"mb_k"}"#;
    let answers = vec![
        Ok((200, r#"[{"id":1,"archived":false}]"#)),
        Ok((200, r#"[{"id":2,"archived":true}]"#)),
        Ok((200, r#"{"data":[{"id":1,"is_active":true},{"id":2,"is_active":false}],"total":2,"limit":1000,"offset":0}"#)),
    ];
    let mut r = Reader::open(scripted(answers), cfg, &[sel("cards", false), sel("users", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    assert_eq!(col(&out, "cards", "archived"), vec![Value::Boolean(false), Value::Boolean(true)]);
    assert_eq!(rows_of(&out, "users").len(), 2);
    let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
    assert_eq!(
        paths,
        [
            "/api/session/properties",
            "/api/card",
            "/api/card?f=archived",
            "/api/user?status=all&include_deactivated=true&tenancy=all&limit=1000&offset=0",
        ]
    );
}

impl Reader<Scripted> {
    fn client_traffic(&self) -> (u64, u32) {
        self.client.traffic()
    }

    pub(super) fn client_seen(&self) -> &[(String, String, Vec<(String, String)>, Option<String>)] {
        self.client.transport_ref().seen.as_slice()
    }
}

/// With four requests in flight, the requests of a plan start before the
/// answers before them are read (in plan order), pages a `total` announces
/// start together, and the records are the same, in the same order, as with one.
#[test]
fn requests_start_ahead_and_records_stay_in_order() {
    let answers: &[(&str, u16, &str)] = &[
        ("/api/session/properties", 200, PROPS),
        ("/api/collection", 200, r#"[{"id":"root"},{"id":7},{"id":8}]"#),
        ("/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=0", 200, r#"{"total":5,"data":[{"model":"card","id":1},{"model":"card","id":2}]}"#),
        ("/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=2", 200, r#"{"total":5,"data":[{"model":"card","id":3},{"model":"card","id":4}]}"#),
        ("/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=4", 200, r#"{"total":5,"data":[{"model":"card","id":5}]}"#),
        ("/api/collection/7/items?show_dashboard_questions=true&limit=2&offset=0", 200, r#"{"total":1,"data":[{"model":"card","id":70}]}"#),
        ("/api/collection/8/items?show_dashboard_questions=true&limit=2&offset=0", 200, r#"{"total":0,"data":[]}"#),
    ];
    let read = |cfg: &str| {
        let selection = [sel("collections", false), sel("collection_items", false)];
        let mut r = Reader::open(Scripted::by_path(answers), cfg, &selection, None, no_log).unwrap();
        let out = drain(&mut r);
        assert!(out.iter().all(|b| b.is_ok()), "{out:?}");
        let paths: Vec<String> = r.client_seen().iter().map(|s| s.1.clone()).collect();
        (col(&out, "collection_items", "id"), paths)
    };
    let (one, one_paths) = read(CFG);
    let (four, four_paths) = read(&CFG.replace(r#""max_concurrent_requests":1"#, r#""max_concurrent_requests":4"#));
    assert_eq!(four, one, "the same records in the same order");
    assert_eq!(one, [1, 2, 3, 4, 5, 70].map(Value::Integer).to_vec());
    let items = |paths: &[String]| paths.iter().filter(|p| p.contains("/items")).cloned().collect::<Vec<_>>();
    assert_eq!(items(&one_paths), [
        "/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=0",
        "/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=2",
        "/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=4",
        "/api/collection/7/items?show_dashboard_questions=true&limit=2&offset=0",
        "/api/collection/8/items?show_dashboard_questions=true&limit=2&offset=0",
    ]);
    // With four in flight, collections 7 and 8 start before root's second page is known,
    // then root's remaining pages start together.
    assert_eq!(items(&four_paths), [
        "/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=0",
        "/api/collection/7/items?show_dashboard_questions=true&limit=2&offset=0",
        "/api/collection/8/items?show_dashboard_questions=true&limit=2&offset=0",
        "/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=2",
        "/api/collection/root/items?show_dashboard_questions=true&limit=2&offset=4",
    ]);
    let mut sorted = four_paths.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), four_paths.len(), "nothing asked twice: {four_paths:?}");
}

/// A 429 halves the requests in flight for the rest of the run.
#[test]
fn throttling_halves_the_requests_in_flight() {
    let cfg = CFG.replace(r#""max_concurrent_requests":1"#, r#""max_concurrent_requests":8"#);
    let mut r = Reader::open(
        Scripted::new(vec![Ok((200, PROPS)), Ok((429, "slow down")), Ok((200, "[]"))]),
        &cfg,
        &[sel("dashboards", false)],
        None,
        no_log,
    )
    .unwrap();
    let out = drain(&mut r);
    assert!(out.iter().all(|b| b.is_ok()), "{out:?}");
    assert_eq!(r.client_traffic(), (3, 4), "three requests; the limit went from 8 to 4 and one answer does not raise it");
}

/// The values of column `col` in the rows of `stream`.
fn column_of(batches: &[std::result::Result<Batch, Error>], stream: &str, col: &str) -> Vec<Value> {
    batches
        .iter()
        .flat_map(|b| b.as_ref().ok())
        .filter(|b| b.stream == stream)
        .flat_map(|b| {
            let i = names(b).iter().position(|c| c == col).expect("the column");
            batch_rows(b).into_iter().map(move |r| r[i].clone())
        })
        .collect()
}

#[test]
fn lineage_is_computed_from_the_cards_answer_without_asking_again() {
    let cards = r#"[{"id":1,"dataset_query":{"type":"query","database":2,"query":{"source-table":9,"joins":[{"alias":"J","source-table":"card__4"}]}}},
                    {"id":4,"dataset_query":{"lib/type":"mbql/query","database":2,"stages":[{"lib/type":"mbql.stage/native","native":"select * from s.t"}]}}]"#;
    for selection in [vec![sel("cards", false), sel("lineage", false)], vec![sel("lineage", false), sel("cards", false)]] {
        let mut r = Reader::open(scripted(vec![Ok((200, cards))]), CFG, &selection, None, no_log).unwrap();
        let out = drain(&mut r);
        assert!(out.iter().all(|b| b.is_ok()));
        let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
        assert_eq!(paths, ["/api/session/properties", "/api/card"], "one request for both streams");
        assert_eq!(column_of(&out, "cards", "id"), [Value::Integer(1), Value::Integer(4)]);
        let deps: Vec<Value> = column_of(&out, "lineage", "dependency");
        let want = ["table/9", "card/4", "table_name/s.t"].map(|s| Value::String(s.into()));
        assert_eq!(deps, want);
        assert_eq!(column_of(&out, "lineage", "best_effort"), [false, false, true].map(Value::Boolean));
    }
    // Alone, it reads the cards itself.
    let mut r = Reader::open(scripted(vec![Ok((200, cards))]), CFG, &[sel("lineage", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    assert_eq!(column_of(&out, "lineage", "card_id"), [1, 1, 4].map(Value::Integer));
    assert!(column_of(&out, "cards", "id").is_empty());
}

/// A transport whose answers carry a `Date` header (the server's clock).
fn dated(date: &str, answers: &[(u16, &str)]) -> Scripted {
    let mut s = Scripted::new(vec![]);
    s.answers.push_back(Ok((200, vec![("Date".into(), date.into())], PROPS.into())));
    for (status, body) in answers {
        s.answers.push_back(Ok((*status, vec![("Date".into(), date.into())], body.to_string())));
    }
    s
}

#[test]
fn query_executions_ask_for_each_month_up_to_the_servers() {
    let cfg = CFG.replace('}', r#","usage_lookback_months":1}"#);
    let answers = [(200, r#"[{"id":1,"started_at":"2024-05-31T23:00:00Z"}]"#), (200, r#"[{"id":3,"started_at":"2024-06-02T00:00:00Z"},{"id":2,"started_at":"2024-06-01T00:00:00Z"}]"#)];
    let t = dated("Mon, 03 Jun 2024 10:00:00 GMT", &answers);
    let mut r = Reader::open(t, &cfg, &[sel("query_executions", true)], None, no_log).unwrap();
    let out = drain(&mut r);
    assert_eq!(ids(&out), [1, 3, 2]);
    let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
    assert_eq!(paths, ["/api/session/properties", "/api/ee/logs/query_execution/2024-05", "/api/ee/logs/query_execution/2024-06"]);
    assert_eq!(out.last().unwrap().as_ref().unwrap().checkpoint.as_deref(), Some(r#"{"started_at":"2024-06-02T00:00:00.000000Z"}"#));

    // With state: from the cursor's month in any zone (00:00Z on June 1st is still May west of
    // UTC, where Metabase may split the months), rows at or after it only (the one at the saved
    // cursor is read again, see `read::state`).
    let state = r#"{"query_executions":{"started_at":"2024-06-01T00:00:00.000000Z"}}"#;
    let t = dated("Mon, 03 Jun 2024 10:00:00 GMT", &answers);
    let mut r = Reader::open(t, &cfg, &[sel("query_executions", true)], Some(state), no_log).unwrap();
    assert_eq!(ids(&drain(&mut r)), [3, 2]);
    let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
    assert_eq!(paths, ["/api/session/properties", "/api/ee/logs/query_execution/2024-05", "/api/ee/logs/query_execution/2024-06"]);
    let state = r#"{"query_executions":{"started_at":"2024-06-01T14:00:00.000000Z"}}"#;
    let t = dated("Mon, 03 Jun 2024 10:00:00 GMT", &answers[1..]);
    let mut r = Reader::open(t, &cfg, &[sel("query_executions", true)], Some(state), no_log).unwrap();
    assert_eq!(ids(&drain(&mut r)), [3]);
    let paths: Vec<_> = r.client_seen().iter().map(|s| s.1.clone()).collect();
    assert_eq!(paths, ["/api/session/properties", "/api/ee/logs/query_execution/2024-06"], "June in every zone");
}

/// A stream that ends unavailable after starting its next requests ahead
/// (here the months of `query_executions`, each a 404 on open source) leaves
/// none of them waiting: they would hold the in-flight room for the rest of
/// the read, and every later stream would wait for each answer in turn.
#[test]
fn a_stream_ending_unavailable_leaves_no_request_started_ahead() {
    let cfg = CFG.replace(r#""max_concurrent_requests":1"#, r#""max_concurrent_requests":4"#).replace('}', r#","usage_lookback_months":2}"#);
    let missing = "API endpoint does not exist.";
    let mut t = Scripted::by_path(&[
        ("/api/ee/logs/query_execution/2024-04", 404, missing),
        ("/api/ee/logs/query_execution/2024-05", 404, missing),
        ("/api/ee/logs/query_execution/2024-06", 404, missing),
    ]);
    t.answers.push_back(Ok((200, vec![("Date".into(), "Mon, 03 Jun 2024 10:00:00 GMT".into())], PROPS.into())));
    let mut r = Reader::open(t, &cfg, &[sel("query_executions", false)], None, no_log).unwrap();
    let out = drain(&mut r);
    let e = out.iter().find_map(|b| b.as_ref().err()).expect("the stream ends unavailable");
    assert_eq!(e.kind, crate::error::Kind::Unavailable);
    let months = r.client_seen().iter().filter(|s| s.1.contains("query_execution")).count();
    assert!(months > 1, "the later months were started ahead ({months} asked)");
    assert_eq!(r.client.ahead_len(), 0, "none of them is left waiting");
}

#[test]
fn query_executions_are_unavailable_without_the_feature() {
    for (status, body) in [(404, "API endpoint does not exist."), (402, "This is a paid feature."), (403, "You don't have permissions to do that.")] {
        let t = dated("Mon, 03 Jun 2024 10:00:00 GMT", &[(status, body)]);
        let cfg = CFG.replace('}', r#","usage_lookback_months":0}"#);
        let mut r = Reader::open(t, &cfg, &[sel("query_executions", false)], None, no_log).unwrap();
        let out = drain(&mut r);
        let e = out.iter().find_map(|b| b.as_ref().err()).expect("the stream ends unavailable");
        assert_eq!((e.kind, e.stream.as_deref(), e.status), (crate::error::Kind::Unavailable, Some("query_executions"), Some(status)), "{status}");
        assert!(e.message.contains("an admin account on Metabase Pro or Enterprise"), "{}", e.message);
    }
    // A server whose answers carry no Date header: the current month is unknown.
    let t = scripted(vec![]);
    let cfg = CFG.replace('}', r#","usage_lookback_months":0}"#);
    let mut r = Reader::open(t, &cfg, &[sel("query_executions", false)], None, no_log).unwrap();
    let e = drain(&mut r).into_iter().find_map(|b| b.err()).expect("no Date header: no current month");
    assert!(e.message.contains("Date header"), "{}", e.message);
}
