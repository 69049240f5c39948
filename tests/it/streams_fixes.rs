//! What issue 13's fixes read, through the real host: hidden tables and fields, tenant users,
//! archived alerts, the Trash, a database without tables (replaying `tenants_hidden`, built by
//! tools/fixturegen_fixes.py from shapes read in Metabase's source), and an incremental read of a
//! paged list whose objects change between its pages (a loopback server this test starts), which
//! must lose nothing across two runs.

use crate::common;

use common::http::{reason, write_response, Loopback, Request};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FIXTURE: &str = "tenants_hidden";

/// A catalog of `streams` from the fixture's discover, each in `mode`.
fn catalog(dir: &std::path::Path, streams: &[&str], mode: &str) -> PathBuf {
    let discover = replay("v050_api_key", "discover", &[]);
    discover.expect_code(0);
    let mut c = configured_catalog(discover.catalog(), streams);
    for s in c["streams"].as_array_mut().unwrap() {
        s["sync_mode"] = json!(mode);
        if mode == "incremental" {
            s["destination_sync_mode"] = json!("append_dedup");
            s["cursor_field"] = json!(["updated_at"]);
            s["primary_key"] = json!([["id"]]);
        }
    }
    let path = dir.join(format!("{}-{mode}.json", streams.join("+")));
    write_json(&path, &c);
    path
}

/// A read of `streams` of the fixture, with the requests the replay answered 2xx.
fn read(test: &str, streams: &[&str], config: Option<Value>) -> (Output, Vec<String>) {
    let dir = scratch_dir(test);
    let cat = catalog(&dir, streams, "full_refresh");
    let config_path = match config {
        Some(c) => {
            let p = dir.join("config.json");
            write_json(&p, &c);
            p
        }
        None => fixture(&format!("{FIXTURE}.config.json")),
    };
    let (har, config_path, cat) = (fixture(&format!("{FIXTURE}.har")), config_path.to_str().unwrap().to_string(), cat.to_str().unwrap().to_string());
    let out = run_host(&["--replay", har.to_str().unwrap(), "read", "--config", &config_path, "--catalog", &cat, "--log-level", "debug"]);
    out.expect_code(0);
    assert!(out.trace_errors().is_empty(), "{}", out.describe());
    let answered = out
        .stderr
        .lines()
        .filter_map(|l| l.split_once("replay: ")?.1.split_once(" -> entry ").filter(|(_, e)| e.contains("(2")).map(|(r, _)| r.to_string()))
        .collect();
    (out, answered)
}

fn by_id<'a>(out: &'a Output, stream: &str) -> BTreeMap<i64, &'a Value> {
    out.records(stream).into_iter().map(|r| (r["id"].as_i64().expect("an integer id"), r)).collect()
}

#[test]
fn hidden_tables_and_sensitive_fields_arrive_with_their_visibility_type() {
    let (out, answered) = read("fixes_hidden", &["tables", "fields"], None);
    assert!(answered.iter().any(|r| r == "GET /api/database/2/metadata?include_hidden=true"), "{answered:?}");
    let tables = by_id(&out, "tables");
    assert_eq!(tables.len(), 11, "8 captured tables and 3 hidden ones");
    for (id, name, visibility) in [(17, "orders_2019_backup", "cruft"), (18, "_airbyte_raw_orders", "technical"), (19, "payroll", "hidden")] {
        assert_eq!(tables[&id]["name"], name);
        assert_eq!(tables[&id]["visibility_type"], visibility, "table {id}");
    }
    assert_eq!(tables[&10]["visibility_type"], Value::Null, "a visible table says so with null");
    let fields = by_id(&out, "fields");
    assert_eq!(fields.len(), 38 + 3 * 9, "the hidden tables' fields too");
    for t in [17, 18, 19] {
        assert_eq!(fields.values().filter(|f| f["table_id"] == t).count(), 9, "fields of table {t}");
    }
    let sensitive: Vec<i64> = fields.iter().filter(|(_, f)| f["visibility_type"] == "sensitive").map(|(id, _)| *id).collect();
    assert_eq!(sensitive.len(), 1, "{sensitive:?}");
    assert_eq!(fields[&sensitive[0]]["table_id"], 19);
}

#[test]
fn an_empty_tables_list_completes_fields_with_zero_records() {
    for streams in [&["fields"][..], &["tables", "fields"][..]] {
        let (out, answered) = read("fixes_empty_tables", streams, None);
        assert!(answered.iter().any(|r| r == "GET /api/database/3/metadata?include_hidden=true"), "{answered:?}");
        assert_eq!(out.stream_statuses("fields").last().map(String::as_str), Some("COMPLETE"), "{}", out.describe());
        // Every field belongs to a table of database 2: database 3 gave none, and no error.
        let db2_tables: Vec<i64> = (9..=19).collect();
        let fields = out.records("fields");
        assert_eq!(fields.len(), 65);
        assert!(fields.iter().all(|f| db2_tables.contains(&f["table_id"].as_i64().unwrap())));
        assert_eq!(out.states_of("fields").len(), 1, "the stream checkpoints");
    }
}

#[test]
fn tenant_users_arrive() {
    let (out, answered) = read("fixes_tenants", &["users"], None);
    assert_eq!(answered.iter().filter(|r| r.starts_with("GET /api/user?")).collect::<Vec<_>>(), ["GET /api/user?status=all&include_deactivated=true&tenancy=all&limit=1000&offset=0"]);
    let users = by_id(&out, "users");
    assert_eq!(users.keys().copied().collect::<Vec<_>>(), [1, 5, 6]);
    assert_eq!(users[&1]["tenant_id"], Value::Null, "the internal admin");
    for id in [5, 6] {
        assert_eq!(users[&id]["tenant_id"], 1, "user {id} is a tenant user");
        assert!(users[&id]["tenant_collection_id"].is_i64(), "user {id}");
    }
}

#[test]
fn archived_alerts_arrive_with_include_archived_only() {
    let (out, answered) = read("fixes_alerts", &["alerts"], None);
    // Logged as they arrive: several requests are in flight.
    let mut alert_requests: Vec<&String> = answered.iter().filter(|r| r.starts_with("GET /api/alert")).collect();
    alert_requests.sort();
    assert_eq!(alert_requests, ["GET /api/alert", "GET /api/alert?archived=true"]);
    let alerts = by_id(&out, "alerts");
    assert_eq!(alerts.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(alerts[&3]["archived"], true, "synthesised from the inactive notification 3");
    assert!(alerts[&1]["archived"] == false && alerts[&2]["archived"] == false);

    let mut config = fixture_config(FIXTURE);
    config["include_archived"] = json!(false);
    let (out, answered) = read("fixes_alerts_off", &["alerts"], Some(config));
    assert_eq!(answered.iter().filter(|r| r.starts_with("GET /api/alert")).collect::<Vec<_>>(), ["GET /api/alert"]);
    assert_eq!(by_id(&out, "alerts").keys().copied().collect::<Vec<_>>(), [1, 2]);
}

#[test]
fn the_trash_arrives_marked_by_its_type_and_is_no_parent() {
    let (out, answered) = read("fixes_trash", &["collections", "collection_items"], None);
    let trash: Vec<&Value> = out.records("collections").into_iter().filter(|c| c["type"] == "trash").collect();
    assert_eq!(trash.len(), 1, "{}", out.describe());
    assert_eq!((trash[0]["id"].as_str(), trash[0]["name"].as_str(), trash[0]["archived"].as_bool()), (Some("3"), Some("Trash"), Some(false)));
    assert_eq!(out.records("collections").len(), 3, "root, collection 2 and the Trash");
    // Parents come from the non-archived list, which never holds the Trash.
    assert!(!answered.iter().any(|r| r.starts_with("GET /api/collection/3/items")), "{answered:?}");
}

// ------------------------------------------------------------------------------------------------
// The paged-list race
// ------------------------------------------------------------------------------------------------

/// `GET /api/user` of a Metabase whose users change while they are paged: ordered as Metabase
/// orders them (lower first name, id), with a clock that ticks a second per request and a `Date`
/// header. Right after the first page is served, "Zed" is renamed "Aaron" (so he moves onto the
/// page already read) and then "Eve" is edited (she stays on a page still to come): the first run
/// never sees Aaron, yet sees a change newer than his.
struct RaceServer {
    clock: i64,
    users: Vec<Value>,
    raced: bool,
}

const START: i64 = 1_718_877_600; // 2024-06-20T10:00:00Z

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl RaceServer {
    fn new() -> Self {
        let users = ["Bob", "Carl", "Dave", "Eve", "Fay", "Zed"]
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"id": i + 1, "first_name": n, "last_name": "User", "updated_at": rfc3339(START - 3600)}))
            .collect();
        RaceServer { clock: START, users, raced: false }
    }

    fn page(&mut self, query: &str) -> Value {
        let param = |k: &str| query.split('&').find_map(|p| p.strip_prefix(&format!("{k}="))).and_then(|v| v.parse::<usize>().ok());
        let (limit, offset) = (param("limit").unwrap_or(50), param("offset").unwrap_or(0));
        self.users.sort_by_key(|u| (u["first_name"].as_str().unwrap().to_lowercase(), u["id"].as_i64()));
        let page: Vec<Value> = self.users.iter().skip(offset).take(limit).cloned().collect();
        let total = self.users.len();
        if offset == 0 && !self.raced {
            self.raced = true;
            let at = self.clock;
            let edit = |users: &mut Vec<Value>, name: &str, to: Value| {
                let u = users.iter_mut().find(|u| u["first_name"] == name).unwrap();
                for (k, v) in to.as_object().unwrap() {
                    u[k] = v.clone();
                }
            };
            edit(&mut self.users, "Zed", json!({"first_name": "Aaron", "updated_at": rfc3339(at + 1)}));
            edit(&mut self.users, "Eve", json!({"last_name": "Edited", "updated_at": rfc3339(at + 2)}));
        }
        json!({"data": page, "total": total, "limit": limit, "offset": offset})
    }

    fn answer(&mut self, req: &Request, stream: &mut TcpStream) {
        self.clock += 1;
        let date = chrono::DateTime::from_timestamp(self.clock, 0).unwrap().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let (status, body) = match req.path() {
            "/api/session/properties" => (200, json!({"version": {"tag": "v0.57.1"}})),
            "/api/user" => (200, self.page(req.query())),
            _ => (404, json!("API endpoint does not exist.")),
        };
        let headers = [("Content-Type".to_string(), "application/json".to_string()), ("Date".to_string(), date)];
        write_response(stream, status, reason(status), &headers, body.to_string().as_bytes(), None);
    }
}

#[test]
fn an_update_while_a_paged_list_is_read_is_not_lost() {
    let server = Arc::new(Mutex::new(RaceServer::new()));
    let s2 = server.clone();
    let loopback = Loopback::start(20, Duration::from_secs(120), move |req, mut stream| s2.lock().unwrap().answer(&req, &mut stream));
    let dir = scratch_dir("fixes_race");
    let config = json!({"instance_api_url": format!("http://127.0.0.1:{}/api", loopback.port), "api_key": "mb_cmFjZS1rZXk",
                        "page_size": 2, "max_concurrent_requests": 1, "include_deactivated_users": false});
    let config_path = dir.join("config.json");
    write_json(&config_path, &config);
    let cat = catalog(&dir, &["users"], "incremental");
    let allow = format!("127.0.0.1:{}", loopback.port);
    let run = |state: Option<&PathBuf>| {
        let mut args = vec!["--allow-host", &allow, "read", "--config", config_path.to_str().unwrap(), "--catalog", cat.to_str().unwrap()];
        if let Some(s) = state {
            args.extend(["--state", s.to_str().unwrap()]);
        }
        let out = run_host(&args);
        out.expect_code(0);
        assert!(out.trace_errors().is_empty(), "{}", out.describe());
        out
    };

    let first = run(None);
    let seen = |out: &Output| -> Vec<(i64, String)> {
        out.records("users").iter().map(|u| (u["id"].as_i64().unwrap(), u["updated_at"].as_str().unwrap().to_string())).collect()
    };
    assert!(!seen(&first).iter().any(|(id, _)| *id == 6), "the race happened: Aaron (id 6) moved onto a page already read\n{}", first.describe());
    assert!(seen(&first).contains(&(4, "2024-06-20T10:00:04.000000Z".into())), "and Eve's later edit was read");
    // The read began at 10:00:01 (its first answer, GET /api/session/properties): the checkpoint
    // stays a minute below it, not at Eve's 10:00:04.
    let states = first.states_of("users");
    assert_eq!(states.len(), 1);
    assert_eq!(states[0]["stream"]["stream_state"], json!({"updated_at": "2024-06-20T09:59:01.000000Z"}));
    let state_path = dir.join("state.json");
    write_json(&state_path, &Value::Array(first.states().into_iter().cloned().collect()));

    let second = run(Some(&state_path));
    // Across the two runs, every user in its final state was emitted.
    let emitted: Vec<(i64, String)> = [seen(&first), seen(&second)].concat();
    let finals: Vec<(i64, String)> = server
        .lock()
        .unwrap()
        .users
        .iter()
        .map(|u| (u["id"].as_i64().unwrap(), civil(u["updated_at"].as_str().unwrap())))
        .collect();
    for user in &finals {
        assert!(emitted.contains(user), "lost: {user:?}\nemitted {emitted:?}");
    }
    assert!(seen(&second).contains(&(6, "2024-06-20T10:00:03.000000Z".into())), "Aaron arrives in the second run");
}

/// `2024-06-20T10:00:03Z` as the connector writes timestamps (RFC 3339, microseconds).
fn civil(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
