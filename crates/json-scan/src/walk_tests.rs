//! The walk against its reference (the walk before its loops were peeled,
//! in `reference.rs`), on generated and mutated documents: the same answer
//! for every input, errors (offset and words) included; and against
//! serde_json for what is valid.

use crate::{reference, Invalid, Member};

fn exact(b: &[u8]) -> Result<(usize, Vec<Member>), Invalid> {
    let mut m = Vec::new();
    reference::element(b, &mut m).map(|n| (n, m))
}

/// Every public walk answers as the reference does, errors included;
/// whether `b` is one valid element.
fn agree(b: &[u8]) -> bool {
    let want = exact(b);
    let mut m = vec![Member { key: 0..1, escaped: true, value: 0..1 }];
    let got = crate::element(b, &mut m).map(|n| (n, m));
    assert_eq!(got, want, "{:?}", String::from_utf8_lossy(b));
    for depth in [0, 3] {
        assert_eq!(crate::value_end(b, 0, depth), reference::value_end(b, 0, depth), "{:?}", String::from_utf8_lossy(b));
    }
    if let Ok(text) = std::str::from_utf8(b) {
        let mut m = Vec::new();
        let mut r = Vec::new();
        // `one_value` and `object` over the reference walk: their own code did not change, the walk under it did.
        assert_eq!(crate::one_value(text), crate::one_value_with(text, reference::value_end), "{text:?}");
        let want = crate::object_with(text, &mut r, reference::element).map(|o| (o, r));
        assert_eq!(crate::object(text, &mut m).map(|o| (o, m)), want, "{text:?}");
    }
    want.is_ok()
}

/// A small deterministic generator (xorshift): no dependency, the same
/// cases on every run, and a failure prints its input.
struct Gen(u64, bool);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    fn ws(&mut self, out: &mut Vec<u8>) {
        if !self.1 && self.below(4) == 0 {
            for _ in 0..self.below(70) {
                out.push(self.pick(b" \t\n\r"));
            }
        }
    }

    /// String content around the lengths where blocks turn (16, 64),
    /// with escapes, backslash runs, quotes escaped or not, multibyte UTF-8.
    fn string(&mut self, out: &mut Vec<u8>) {
        out.push(b'"');
        let len = if self.1 && self.below(20) > 0 {
            // Compact documents: mostly names and values that end within 16 bytes.
            self.pick(&[0, 1, 2, 5, 9, 12, 13, 14, 15])
        } else {
            self.pick(&[0, 1, 2, 5, 14, 15, 16, 17, 30, 31, 32, 33, 62, 63, 64, 65, 66, 127, 128, 200])
        };
        let mut n = 0;
        while n < len {
            match self.below(if self.1 { 1000 } else { 12 }) {
                0 => out.extend_from_slice(self.pick(&[&b"\\\""[..], b"\\\\", b"\\/", b"\\b", b"\\f", b"\\n", b"\\r", b"\\t"])),
                1 => out.extend_from_slice(format!("\\u{:04x}", self.next() as u16).as_bytes()),
                2 => {
                    // A run of escaped backslashes, maybe before an escaped quote.
                    for _ in 0..self.below(5) {
                        out.extend_from_slice(b"\\\\");
                    }
                    if self.below(2) == 0 {
                        out.extend_from_slice(b"\\\"");
                    }
                }
                3 => out.extend_from_slice(self.pick(&["é", "日本", "🦀", "\u{7f}", "{", "}", "[", "]", ":", ","]).as_bytes()),
                _ => out.push(self.pick(b"abcxyz 0123 ,.-_/T:Z")),
            }
            n += 1;
        }
        out.push(b'"');
    }

    fn number(&mut self, out: &mut Vec<u8>) {
        let case = if self.1 && self.below(10) > 0 { self.pick(&[1, 2, 5]) } else { self.below(6) };
        let s = match case {
            0 => format!("{}", self.next() as i64),
            1 => format!("{}", self.below(10)),
            2 => format!("-{}.{}", self.below(1000), self.below(100_000)),
            3 => format!("{}e{}{}", self.below(100), self.pick(&["", "+", "-"]), self.below(400)),
            4 => format!("-0.{}E-{}", self.below(1000), self.below(9)),
            _ => format!("{}.{}", self.below(100_000), self.below(1000)),
        };
        out.extend_from_slice(s.as_bytes());
    }

    fn value(&mut self, out: &mut Vec<u8>, depth: usize) {
        let deep = depth < 6 || (depth < 90 && self.below(8) == 0);
        match self.below(if deep { 9 } else { 6 }) {
            0 | 1 => self.string(out),
            2 => self.number(out),
            3 => out.extend_from_slice(self.pick(&[&b"true"[..], b"false", b"null"])),
            4 | 5 if !deep => self.string(out),
            4..=6 => {
                out.push(b'[');
                self.ws(out);
                for k in 0..self.below(if depth > 8 { 2 } else { 6 }) {
                    if k > 0 {
                        out.push(b',');
                        self.ws(out);
                    }
                    self.value(out, depth + 1);
                    self.ws(out);
                }
                out.push(b']');
            }
            _ => {
                out.push(b'{');
                self.ws(out);
                for k in 0..self.below(if depth > 8 { 2 } else { 7 }) {
                    if k > 0 {
                        out.push(b',');
                        self.ws(out);
                    }
                    self.string(out);
                    self.ws(out);
                    out.push(b':');
                    self.ws(out);
                    self.value(out, depth + 1);
                    self.ws(out);
                }
                out.push(b'}');
            }
        }
    }

    /// One byte changed, inserted or removed, or the text cut short.
    fn mutate(&mut self, doc: &mut Vec<u8>) {
        let at = self.below(doc.len() + 1);
        let c = self.pick(&[b'"', b'\\', b'{', b'}', b'[', b']', b':', b',', b' ', b'\n', 0, 1, 0x1f, b'x', b'0', b'-', b'.', b'e', b'u', b't', 0x80, 0xe9, 0xff]);
        match self.below(4) {
            0 if at < doc.len() => doc[at] = c,
            1 => doc.insert(at, c),
            2 if at < doc.len() => {
                doc.remove(at);
            }
            _ => doc.truncate(at),
        }
    }
}

/// What may follow an element in the reader's buffer: the next one, or
/// anything, cut anywhere (the walk must not look past its value).
const TAILS: [&[u8]; 8] = [b"", b",{\"a\":1}]", b", \"\x01", b"]\\", b"x", b"\"\\u12", b" ,\"\\q\" \x00", b"1"];

/// `doc` followed by each of [`TAILS`], then `pad`: the same answers from
/// both walks, and still one valid element when `doc` is one.
fn agree_with_tails(doc: &[u8], pad: &[u8]) {
    let valid = agree(doc);
    for tail in TAILS {
        let mut d = doc.to_vec();
        d.extend_from_slice(tail);
        d.extend_from_slice(pad);
        assert!(agree(&d) || !valid, "{:?}", String::from_utf8_lossy(&d));
    }
}

#[test]
fn random_documents_agree_with_the_exact_walk_and_serde() {
    let mut g = Gen(0x2545_f491_4f6c_dd1d, false);
    let (mut valid, mut mutated_valid) = (0, 0);
    for _ in 0..20_000 {
        let mut doc = Vec::new();
        g.value(&mut doc, 0);
        assert!(agree(&doc), "{}", String::from_utf8_lossy(&doc));
        valid += 1;
        agree_with_tails(&doc, b"");
        let text = std::str::from_utf8(&doc).expect("generated as UTF-8");
        if depth_of(&doc) < 100 {
            assert!(serde_json::from_str::<&serde_json::value::RawValue>(text).is_ok(), "serde refused {text:?}");
        }
        for _ in 0..4 {
            let mut d = doc.clone();
            for _ in 0..1 + g.below(3) {
                g.mutate(&mut d);
            }
            if agree(&d) {
                mutated_valid += 1;
            }
            if let Ok(text) = std::str::from_utf8(&d) {
                if depth_of(&d) < 100 {
                    let serde = serde_json::from_str::<&serde_json::value::RawValue>(text).is_ok();
                    assert_eq!(crate::one_value(text).is_ok(), serde, "{text:?}");
                }
            }
        }
    }
    assert!(valid == 20_000 && mutated_valid > 1000, "{mutated_valid}");
}

/// A bound on the nesting of a text (brackets counted, strings ignored):
/// serde_json refuses more than 128 levels; the walks do not.
fn depth_of(b: &[u8]) -> usize {
    let (mut d, mut max) = (0usize, 0);
    for &c in b {
        match c {
            b'[' | b'{' => {
                d += 1;
                max = max.max(d);
            }
            b']' | b'}' => d = d.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Every prefix of every document: the streaming reader walks cut
/// elements, and the block boundaries fall everywhere.
#[test]
fn every_prefix_agrees() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15, false);
    for _ in 0..300 {
        let mut doc = Vec::new();
        g.value(&mut doc, 0);
        for cut in 0..=doc.len().min(700) {
            agree(&doc[..cut]);
        }
    }
}

/// Strings and escapes placed across the 64-byte blocks: every position
/// of a backslash run, an escaped quote, a control character, a `\u`
/// escape cut or bad, around the first block's end.
#[test]
fn escapes_and_strings_across_block_boundaries() {
    let pieces: [&[u8]; 16] = [
        b"\\\"", b"\\\\", b"\\\\\\\"", b"\\\\\\\\", b"\\u00e9", b"\\u12G4", b"\\uD83D", b"\\x", b"\x01", b"\x1f", b"\t",
        "é".as_bytes(), "🦀".as_bytes(), b"\\", b"\"", b"\\/",
    ];
    for pad in 0..80 {
        for piece in pieces {
            for (open, close) in [(&b"{\"k\":\""[..], &b"\"}"[..]), (b"[\"", b"\"]"), (b"{\"", b"\":1}"), (b"\"", b"\"")] {
                let mut doc = open.to_vec();
                doc.extend(std::iter::repeat_n(b'a', pad));
                doc.extend_from_slice(piece);
                doc.extend(std::iter::repeat_n(b'b', pad % 7));
                doc.extend_from_slice(close);
                // And long enough for the fast walk (256 bytes past it), inside an array.
                let mut long = b"[".to_vec();
                long.extend_from_slice(&doc);
                long.extend_from_slice(&[b','; 1][..]);
                long.extend_from_slice(&doc);
                long.extend_from_slice(b"]");
                long.extend_from_slice(&[b' '; 300]);
                for d in [&doc, &long] {
                    agree_with_tails(d, b"");
                }
            }
        }
    }
}

/// Numbers and literals against what follows them, at the block's end.
#[test]
fn scalars_end_where_their_run_ends() {
    let scalars = ["0", "-0", "12", "1.5", "-1.5e3", "1E+2", "true", "false", "null", "01", "1.", "-", "tru", "nul1", "truex", "1x", "1-", "1e", "1.5.3"];
    let after = ["", ",", "]", "}", " ", "\n", "x", "\u{1}", "\"", ":", "[", "é", "\\"];
    for pad in 0..70 {
        for s in scalars {
            for a in after {
                let ws = " ".repeat(pad);
                for doc in [format!("[{ws}{s}{a}]"), format!("{{\"k\":{ws}{s}{a}}}"), format!("{s}{a}"), format!("[{ws}{s}{a}")] {
                    agree(doc.as_bytes());
                }
            }
        }
    }
}

#[test]
fn deep_nesting_and_odd_starts() {
    for n in [1, 62, 63, 64, 65, 127, 128, 129, 1000] {
        let doc = format!("{}1{}", "{\"a\":[".repeat(n), "]}".repeat(n));
        assert!(agree(doc.as_bytes()));
        assert!(!agree(format!("{}1{}", "{\"a\":[".repeat(n), "}]".repeat(n)).as_bytes()));
        assert!(!agree(&doc.as_bytes()[..doc.len() - 1]));
        assert!(agree(format!("{}{}", "[".repeat(n), "]".repeat(n)).as_bytes()));
    }
    for odd in [&b""[..], b" 1", b"\n{}", b"}", b"]", b",", b":", b"\"", b"\\", b"\x00", b"\xe9", b"{}", b"[]", b"{\"a\"}", b"{1:2}", b"[1,]", b"{\"a\":1,}"] {
        agree(odd);
    }
}

/// `JSON_SCAN_BENCH=<a JSON list, or - for stdin> cargo test --release -p json-scan -- --ignored --nocapture bench`:
/// both walks over every element of the list (a `GET /api/card` saved to a file).
mod bench {
    use crate::{reference, Invalid, Member};
    #[test]
    #[ignore]
    fn bench() {
        let Ok(path) = std::env::var("JSON_SCAN_BENCH") else { return };
        // `-`: standard input (a wasm runner without the file system).
        let body = if path == "-" {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).expect("standard input");
            b
        } else {
            std::fs::read(path).expect("the file")
        };
        let mut members = Vec::new();
        let mut spans = Vec::new();
        let mut i = 1;
        while body[i] != b']' {
            let n = reference::element(&body[i..], &mut members).expect("valid");
            spans.push(i);
            i += n;
            if body[i] == b',' {
                i += 1;
            }
        }
        type Walk = fn(&[u8], &mut Vec<Member>) -> Result<usize, Invalid>;
        let walks = [("reference", reference::element as Walk), ("walk", crate::element as Walk)];
        // `JSON_SCAN_BENCH_ONLY=walk` (or `reference`), three rounds: for
        // counting instructions (valgrind), which a loaded machine does not blur.
        let only = std::env::var("JSON_SCAN_BENCH_ONLY").ok();
        let rounds = if only.is_some() { 3 } else { 15 };
        // Alternating, best of 15 each: a shared machine's noise falls on both.
        let mut best = [f64::MAX; 2];
        for _ in 0..rounds {
            for (k, (name, f)) in walks.iter().enumerate() {
                if only.as_deref().is_some_and(|o| o != *name) {
                    continue;
                }
                let t = std::time::Instant::now();
                let mut total = 0;
                for &s in &spans {
                    total += f(&body[s..], &mut members).expect("valid") + members.len();
                }
                best[k] = best[k].min(t.elapsed().as_secs_f64());
                assert!(total > 0);
            }
        }
        // How much of the containers' bytes the fast walk takes, in turns with the exact one.
        let (mut fast, mut all) = (0usize, 0usize);
        for &s in &spans {
            let e = &body[s..];
            crate::element(e, &mut members).expect("valid");
            for m in members.clone() {
                if !matches!(e[m.value.start], b'{' | b'[') {
                    continue;
                }
                all += m.value.len();
                let mut w = crate::Walk { i: m.value.start, level: 0, at: crate::At::Value, kinds: crate::Kinds { low: 0, high: Vec::new() } };
                loop {
                    let from = w.i;
                    if let Some(end) = crate::compact::run(e, &mut w) {
                        fast += end - from;
                        break;
                    }
                    fast += w.i - from;
                    if crate::exact_steps(e, &mut w, 4).expect("valid").is_some() {
                        break;
                    }
                }
            }
        }
        println!("containers: {all} bytes, {:.1}% walked by the fast walk", 100.0 * fast as f64 / all as f64);
        for ((name, _), best) in walks.iter().zip(best).filter(|(_, b)| *b < f64::MAX) {
            println!("{name}: {:.2} ms, {:.2} GB/s", best * 1e3, body.len() as f64 / best / 1e9);
        }
    }
}

/// Compact documents (no white space, short strings, as Metabase sends
/// them), where the loop-free walk does most of the work: whole, mutated,
/// cut, and followed by whatever the reader's buffer holds next.
#[test]
fn compact_documents_agree_with_the_reference() {
    let mut g = Gen(0x0123_4567_89ab_cdef, true);
    let (mut fast_bytes, mut all_bytes) = (0, 0);
    for _ in 0..20_000 {
        let mut doc = Vec::new();
        g.value(&mut doc, 0);
        if doc.len() > 200 && matches!(doc[0], b'{' | b'[') {
            let mut tail = doc.clone();
            tail.extend_from_slice(&[b' '; 128]);
            let mut w = crate::Walk { i: 0, level: 0, at: crate::At::Value, kinds: crate::Kinds { low: 0, high: Vec::new() } };
            // How far the fast walk gets alone before it first stops.
            fast_bytes += crate::compact::run(&tail, &mut w).unwrap_or(w.i);
            all_bytes += doc.len();
        }
        assert!(agree(&doc));
        agree_with_tails(&doc, &vec![b','; g.below(70)]);
        for _ in 0..6 {
            let mut d = doc.clone();
            for _ in 0..1 + g.below(2) {
                g.mutate(&mut d);
            }
            d.extend_from_slice(g.pick(&TAILS));
            d.extend(std::iter::repeat_n(b']', g.below(70)));
            agree(&d);
        }
    }
    // The loop-free walk did a good part of the work, not only the starts.
    assert!(fast_bytes * 10 > all_bytes, "{fast_bytes} of {all_bytes}");
}
