//! Fuzzes what the connector does with a response body: the streaming list
//! reader (`json_stream`) fed in arbitrary chunks, and the mapping of each
//! element to typed values (`mapping`) for an arbitrary stream.
//!
//! Input: byte 0 picks the stream, byte 1 the number of chunk sizes that
//! follow; the rest is the body.
//!
//! Checked, beyond "no panic, no unbounded allocation":
//! - the chunking of the body never changes the elements found, the envelope
//!   members, or whether (and how) the body is rejected;
//! - an element that is not a JSON object is refused by the mapping, never half-mapped;
//! - every timestamp the mapping produces formats and parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metabase_source::decode::json_list::ElementStream;
use civil_time::{format_timestamp_micros, parse_timestamp_micros};
use metabase_source::decode::row::RowMapper;
use metabase_source::catalog::streams::STREAMS;
use metabase_source::wit::Value;
use std::io::Read;

/// A reader that hands the body out in the given chunk sizes (cycled).
struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    i: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() || buf.is_empty() {
            return Ok(0);
        }
        let want = if self.sizes.is_empty() { self.data.len() } else { 1 + self.sizes[self.i % self.sizes.len()] as usize };
        self.i += 1;
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

struct Outcome {
    elements: Vec<Vec<u8>>,
    /// The error's variant, if the body was rejected.
    error: Option<String>,
    total: Option<String>,
    enveloped: bool,
}

fn read_all<R: Read>(reader: R) -> Outcome {
    let mut stream = ElementStream::new(reader);
    let mut elements = Vec::new();
    let error = loop {
        match stream.next_element() {
            Ok(Some(e)) => elements.push(e.to_vec()),
            Ok(None) => break None,
            Err(e) => break Some(format!("{e:?}").split(['(', ' ', '{']).next().unwrap_or("").to_string()),
        }
        if elements.len() > 100_000 {
            break None;
        }
    };
    Outcome { elements, error, total: stream.member("total").map(str::to_string), enveloped: stream.enveloped() }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let def = &STREAMS[input[0] as usize % STREAMS.len()];
    let n = (input[1] % 16) as usize;
    let rest = &input[2..];
    let (sizes, body) = rest.split_at(n.min(rest.len()));

    let whole = read_all(body);
    let chunked = read_all(Chunked { data: body, sizes, i: 0 });
    assert_eq!(whole.elements, chunked.elements, "chunking changed the elements");
    assert_eq!(whole.error, chunked.error, "chunking changed the verdict");
    if whole.error.is_none() {
        assert_eq!(whole.total, chunked.total);
        assert_eq!(whole.enveloped, chunked.enveloped);
    }

    let mut mapper = RowMapper::new(&def.declared());
    for element in &whole.elements {
        // The reader only finds element boundaries; the mapping validates each element, so
        // anything that is not a JSON object must be refused there, never half-mapped.
        // (Raw values: JSON puts no bound on numbers, so `1e999` is valid here.)
        let valid = serde_json::from_slice::<std::collections::HashMap<String, Box<serde_json::value::RawValue>>>(element).is_ok();
        let mapped = mapper.map_row(element);
        assert!(valid || mapped.is_err(), "an element that is not a JSON object was mapped: {:?}", String::from_utf8_lossy(element));
        if let Ok(row) = mapped {
            assert!(row.len() <= mapper.columns().len());
            for v in row {
                if let Value::Timestamp(t) = v {
                    assert_eq!(parse_timestamp_micros(&format_timestamp_micros(t)), Some(t), "timestamp {t}");
                }
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(body) {
        if let Some(t) = parse_timestamp_micros(text) {
            assert_eq!(parse_timestamp_micros(&format_timestamp_micros(t)), Some(t), "{text:?}");
        }
    }
});
