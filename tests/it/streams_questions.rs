//! Saved-question result streams through the real host: `questions_v050` offers questions 27 and
//! 29; 27's CSV export has 5,200 rows generated from its real `result_metadata` (see
//! tools/make_fixtures.py, `question_csv`), with two columns titled `Customer ID`; 29 fails in the
//! database (a 202 with `"status": "failed"`).

use crate::common;

use common::*;
use serde_json::{json, Value};

const Q27: &str = "question_27_orders_customers";
const Q29: &str = "question_29_returned_order_count_sql";

/// The expected row `i` of question 27 (the generator's formula, in Rust).
fn expected_row(i: i64) -> Value {
    let day = |n: i64| (chrono::NaiveDate::from_ymd_opt(2018, 1, 1).unwrap() + chrono::TimeDelta::days(n)).to_string();
    let statuses = ["completed", "shipped", "returned", "placed", "return_pending"];
    let names = [
        "Michael", "Shawn", "Kathleen", "Jimmy", "Katherine", "Sarah", "Martin", "Frank", "Jennifer", "Henry", "Fred", "Amy",
        "Kathleen", "Steve", "Teresa", "Amanda", "Kimberly", "Johnny", "Virginia", "Anna", "O'Neil, \"Jr\"",
    ];
    let cid = i * 37 % 100 + 1;
    let cc = (i * 13) % 31;
    let coupon = if i % 4 == 0 { (i * 7) % 27 } else { 0 };
    let bank = if i % 3 == 0 { (i * 5) % 27 } else { 0 };
    let gift = if i % 6 == 0 { (i * 11) % 31 } else { 0 };
    let amount = cc + coupon + bank + gift;
    let orders = 1 + cid % 5;
    let first = cid % 97;
    let (orders, clv) = if i % 50 == 49 { (Value::Null, Value::Null) } else { (json!(orders), json!(amount * orders)) };
    json!({
        "order_id": i + 1, "customer_id": cid, "order_date": day(i % 99), "status": statuses[(i % 5) as usize],
        "amount": amount, "credit_card_amount": cc, "coupon_amount": coupon, "bank_transfer_amount": bank,
        "gift_card_amount": gift, "customer_id_2": cid, "first_name": names[(cid % 21) as usize],
        "last_name": format!("{}.", (b'A' + (cid % 26) as u8) as char), "first_order": day(first),
        "most_recent_order": day(first + i % 10), "number_of_orders": orders, "customer_lifetime_value": clv,
    })
}

#[test]
fn questions_are_offered_only_when_configured() {
    let plain = replay("v050_api_key", "discover", &[]);
    assert!(
        plain.catalog()["streams"].as_array().unwrap().iter().all(|s| !s["name"].as_str().unwrap().starts_with("question_")),
        "no question streams by default"
    );
    let out = replay("questions_v050", "discover", &[]);
    out.expect_code(0);
    let catalog = out.catalog();
    let q = catalog_stream(catalog, Q27);
    let props = &q["json_schema"]["properties"];
    assert_eq!(props.as_object().unwrap().len(), 16, "every column of result_metadata");
    for (f, t) in [("order_id", "integer"), ("amount", "integer"), ("status", "string"), ("customer_id_2", "integer")] {
        assert!(prop_types(&props[f]).contains(&t.to_string()), "{f}: {}", props[f]);
    }
    assert_eq!(props["order_date"]["format"], "date", "{}", props["order_date"]);
    assert_eq!(q["supported_sync_modes"], json!(["full_refresh"]));
    catalog_stream(catalog, Q29);
}

#[test]
fn a_big_question_arrives_whole_and_a_failed_one_fails_alone() {
    let discover = replay("questions_v050", "discover", &[]);
    let dir = scratch_dir("questions");
    let path = dir.join("catalog.json");
    write_json(&path, &configured_catalog(discover.catalog(), &[Q27, Q29]));
    let out = replay("questions_v050", "read", &["--catalog", path.to_str().unwrap()]);

    let rows = out.records(Q27);
    assert_eq!(rows.len(), 5200, "every row, past the 2,000-row cap of /query\n{}", out.describe());
    for i in [0usize, 1, 20, 49, 1999, 2000, 2001, 4321, 5199] {
        assert_eq!(rows[i], &expected_row(i as i64), "row {i}");
    }
    // Both `Customer ID` columns are kept, by position.
    assert!(rows.iter().all(|r| r.as_object().unwrap().len() == 16 && r["customer_id"] == r["customer_id_2"]));
    assert!(rows.iter().all(|r| r["order_id"].is_u64() && r["amount"].is_u64()));
    assert_eq!(out.stream_statuses(Q27).last().map(String::as_str), Some("COMPLETE"));
    assert_eq!(out.states_of(Q27).len(), 1);

    // Question 29 failed inside a 202: an error for that stream only.
    out.expect_code(1);
    let errors = out.trace_errors();
    assert_eq!(errors.len(), 1, "{}", out.describe());
    let e = errors[0];
    assert_eq!(e["stream_descriptor"]["name"], Q29);
    assert_eq!(e["failure_type"], "system_error");
    assert!(
        error_text(e).contains("POST /api/card/29/query/csv: the question failed in Metabase (invalid-query): ERROR: relation \"orders\" does not exist"),
        "{e}"
    );
    assert!(out.records(Q29).is_empty());
    assert_eq!(out.stream_statuses(Q29).last().map(String::as_str), Some("INCOMPLETE"));
    assert!(out.states_of(Q29).is_empty());
}
