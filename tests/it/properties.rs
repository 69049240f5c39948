//! Property tests of the guest's response parsing and value mapping (natively, through the
//! crate's public modules): the same properties the `fuzz/` target checks, on generated inputs.

use metabase_source::decode::json_list::ElementStream;
use metabase_source::decode::row::RowMapper;
use metabase_source::wit::{FieldType, Value};
use proptest::prelude::*;
use serde_json::json;
use std::io::Read;

/// Hands out `data` in the given chunk sizes (cycled; each at least 1 byte).
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    i: usize,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.data.len() - self.pos;
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = self.sizes[self.i % self.sizes.len()].max(1);
        self.i += 1;
        let n = want.min(left).min(buf.len());
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn leaf() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (-1e12f64..1e12).prop_map(|f| json!(f)),
        // Strings with quotes, backslashes, brackets, braces and non-ASCII: what trips a scanner.
        "[a-z\"\\\\\\[\\]{},:é€\\n ]{0,12}".prop_map(serde_json::Value::from),
    ]
}

fn value() -> impl Strategy<Value = serde_json::Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = serde_json::Value> {
    prop::collection::btree_map("[a-z_]{1,8}", value(), 0..6).prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// A list, bare or in an envelope, pretty or compact, split at arbitrary boundaries, gives
    /// exactly its elements (and the envelope's `total`).
    #[test]
    fn chunked_lists_give_the_same_elements(
        items in prop::collection::vec(object(), 0..8),
        sizes in prop::collection::vec(1usize..64, 1..8),
        enveloped: bool,
        pretty: bool,
    ) {
        let doc = if enveloped {
            json!({"total": items.len(), "data": items, "limit": null})
        } else {
            serde_json::Value::from(items.clone())
        };
        let text = if pretty { serde_json::to_vec_pretty(&doc).unwrap() } else { serde_json::to_vec(&doc).unwrap() };
        let mut stream = ElementStream::new(Chunked { data: text, pos: 0, sizes, i: 0 });
        let mut got = Vec::new();
        while let Some(e) = stream.next_element().expect("a valid list") {
            got.push(serde_json::from_slice::<serde_json::Value>(e).expect("an element is JSON"));
        }
        prop_assert_eq!(&got, &items);
        prop_assert_eq!(stream.enveloped(), enveloped);
        if enveloped {
            let total = items.len().to_string();
            prop_assert_eq!(stream.member("total"), Some(total.as_str()));
        }
    }

    /// A list cut anywhere before its end is refused, never read as a shorter list.
    #[test]
    fn a_cut_list_is_never_silently_short(items in prop::collection::vec(object(), 1..6), cut in 0.0f64..1.0) {
        let text = serde_json::to_vec(&items).unwrap();
        let at = ((text.len() - 1) as f64 * cut) as usize;
        let mut stream = ElementStream::new(&text[..at]);
        let mut n = 0;
        let ended = loop {
            match stream.next_element() {
                Ok(Some(_)) => n += 1,
                Ok(None) => break true,
                Err(_) => break false,
            }
        };
        prop_assert!(!ended, "a body cut at {} of {} bytes was accepted with {} elements", at, text.len(), n);
    }

    /// Declared types are kept when the value fits and never drop a value when it does not.
    #[test]
    fn mapping_keeps_every_value(id: i64, name in "[^\"\\\\]{0,16}", big in "[1-9][0-9]{19,25}", extra in value()) {
        let mut m = RowMapper::new(&[("id", FieldType::Integer), ("name", FieldType::String), ("n", FieldType::Integer)]);
        let doc = format!(r#"{{"id":{id},"name":{},"n":{big},"extra":{}}}"#, serde_json::to_string(&name).unwrap(), extra);
        let row = m.map_row(doc.as_bytes()).expect("a JSON object maps");
        prop_assert_eq!(&row[0], &Value::Integer(id));
        prop_assert_eq!(&row[1], &Value::String(name.clone()));
        prop_assert_eq!(&row[2], &Value::String(big.clone()), "an integer beyond 64 bits keeps its digits");
        let i = m.column_index("extra").expect("undeclared keys become columns");
        prop_assert!(row.len() > i && (extra.is_null() == (row[i] == Value::Null)));
    }
}

/// Found by the fuzzer: a JSON number beyond f64's range (`1e999`, valid JSON) in a field declared
/// `number` (or an undeclared one) must not become infinity, which the host writes as `null`:
/// that silently loses the value. It should keep its digits (as integers beyond 64 bits do).
#[test]
fn numbers_beyond_f64_keep_their_digits() {
    let mut m = RowMapper::new(&[("average_query_time", FieldType::Number)]);
    let row = m.map_row(br#"{"average_query_time": 6.392362E351566517, "sd": -1e400}"#).unwrap();
    for v in &row {
        if let Value::Number(f) = v {
            assert!(f.is_finite(), "a number became {f}: {row:?}");
        }
    }
    assert_eq!(row[0], Value::String("6.392362E351566517".into()));
    assert_eq!(row[1], Value::String("-1e400".into()));
}
