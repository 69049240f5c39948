//! The reader's capabilities the streams of issue 13 added, over a
//! scripted transport: a stream of several sources whose parent's id is a
//! query parameter and whose column comes from one (`revisions`), and a
//! paid feature's 402.

use super::*;
use crate::api::client::tests::Scripted;
use crate::wit::Value;
use super::columns::{names, rows_of};

fn no_log(_: LogLevel, _: &str) {}

const CFG: &str = r#"{"instance_api_url":"https://mb.example.com","api_key":"mb_k","include_archived":false,"max_concurrent_requests":1}"#;
const PROPS: &str = r#"{"version":{"tag":"v0.50.5"}}"#;

fn read_all(answers: Vec<(u16, &str)>, stream: &str) -> Vec<std::result::Result<Batch, Error>> {
    let mut script: Vec<_> = vec![Ok((200, PROPS))];
    script.extend(answers.into_iter().map(Ok));
    let selection = [crate::wit::SelectedStream { name: stream.into(), sync_mode: crate::wit::SyncMode::FullRefresh }];
    let mut r = Reader::open(Scripted::new(script), CFG, &selection, None, no_log).unwrap();
    super::tests::drain(&mut r)
}

#[test]
fn revisions_of_cards_then_dashboards_name_their_object() {
    let answers = vec![
        (200, r#"[{"id":27,"name":"a"},{"id":28,"name":"b"}]"#),
        (200, r#"[{"id":2,"timestamp":"2024-06-20T05:55:59Z"},{"id":1,"timestamp":"2024-06-19T11:57:35Z"}]"#),
        (200, "[]"),
        (200, r#"[{"id":2}]"#),
        (200, r#"[{"id":3,"timestamp":"2024-06-19T12:00:00Z"}]"#),
    ];
    let out = read_all(answers, "revisions");
    let batches: Vec<&Batch> = out.iter().map(|b| b.as_ref().expect("no error")).collect();
    let columns = names(batches[0]);
    let col = |name: &str| columns.iter().position(|c| c == name).unwrap();
    let rows: Vec<(Value, Value, Value)> = batches
        .iter()
        .flat_map(|b| rows_of(b))
        .map(|r| (r[col("id")].clone(), r[col("model")].clone(), r[col("model_id")].clone()))
        .collect();
    let s = |v: &str| Value::String(v.into());
    assert_eq!(
        rows,
        [
            (Value::Integer(2), s("card"), Value::Integer(27)),
            (Value::Integer(1), s("card"), Value::Integer(27)),
            (Value::Integer(3), s("dashboard"), Value::Integer(2)),
        ]
    );
    assert_eq!(batches.last().unwrap().checkpoint.as_deref(), Some(r#"{"timestamp":"2024-06-20T05:55:59.000000Z"}"#));
}

#[test]
fn a_paid_feature_is_unavailable_not_a_failure() {
    let out = read_all(vec![(402, r#"{"message":"This is a paid feature."}"#)], "actions");
    let e = out.iter().find_map(|b| b.as_ref().err()).expect("an error");
    assert_eq!((e.kind, e.stream.as_deref()), (crate::error::Kind::Unavailable, Some("actions")));
    assert!(e.message.contains("402") && e.message.contains("needs a Metabase plan"), "{}", e.message);
}

#[test]
fn a_route_wanting_other_parameters_falls_back_to_its_per_parent_form() {
    let answers = vec![
        (400, r#"{"errors":{"model-id":"value must be an integer greater than zero."}}"#),
        (200, r#"[{"id":5},{"id":6}]"#),
        (200, r#"[{"id":1,"model_id":5,"type":"implicit","kind":"row/create"}]"#),
        (200, "[]"),
    ];
    let out = read_all(answers, "actions");
    let rows: Vec<Vec<Value>> = out.iter().flat_map(|b| rows_of(b.as_ref().expect("no error"))).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], Value::Integer(1));
}

#[test]
fn a_missing_action_route_is_skipped_after_one_request() {
    // Before 0.46 `/api/action` does not exist, with or without `model-id`.
    let script = vec![Ok((200, PROPS)), Ok((404, "API endpoint does not exist.")), Ok((200, r#"[{"id":5}]"#))];
    let selection = [crate::wit::SelectedStream { name: "actions".into(), sync_mode: crate::wit::SyncMode::FullRefresh }];
    let mut r = Reader::open(Scripted::new(script), CFG, &selection, None, no_log).unwrap();
    let out = super::tests::drain(&mut r);
    assert!(out.iter().all(|b| b.as_ref().is_ok_and(|b| rows_of(b).is_empty())));
    let paths: Vec<String> = r.client_seen().iter().map(|s| s.1.clone()).collect();
    assert_eq!(paths, ["/api/session/properties", "/api/action"], "no per-card request, no card list");
}

/// `revisions` alone with `include_archived`: its parents are the live and the archived cards.
/// An archived list Metabase refuses leaves it the live cards, with a warning, and the live list
/// is asked once (the script answers each path once).
#[test]
fn a_refused_archived_list_leaves_the_children_the_parents_listed() {
    let mut t = Scripted::by_path(&[
        ("/api/card", 200, r#"[{"id":1},{"id":2}]"#),
        ("/api/card?f=archived", 403, "You don't have permissions to do that."),
        ("/api/revision?entity=card&id=1", 200, r#"[{"id":10,"timestamp":"2024-06-20T05:55:59Z"}]"#),
        ("/api/revision?entity=card&id=2", 200, "[]"),
        ("/api/dashboard", 200, r#"[{"id":5}]"#),
        ("/api/dashboard?f=archived", 200, r#"[{"id":5},{"id":6}]"#),
        ("/api/revision?entity=dashboard&id=5", 200, "[]"),
        ("/api/revision?entity=dashboard&id=6", 200, r#"[{"id":11,"timestamp":"2024-06-20T05:55:59Z"}]"#),
    ]);
    t.answers.push_back(Ok((200, vec![], PROPS.into())));
    let cfg = CFG.replace(r#""include_archived":false"#, r#""include_archived":true"#);
    let selection = [crate::wit::SelectedStream { name: "revisions".into(), sync_mode: crate::wit::SyncMode::FullRefresh }];
    let mut r = Reader::open(t, &cfg, &selection, None, no_log).unwrap();
    let out = super::tests::drain(&mut r);
    let batches: Vec<&Batch> = out.iter().map(|b| b.as_ref().unwrap_or_else(|e| panic!("{e:?}"))).collect();
    let ids: Vec<Value> = batches.iter().flat_map(|b| rows_of(b)).map(|row| row[0].clone()).collect();
    assert_eq!(ids, [Value::Integer(10), Value::Integer(11)], "card 1's revision, and archived dashboard 6's (dashboard 5 once)");
    assert!(r.client.transport_ref().by_path.is_empty(), "every parent's revisions were asked");
}
