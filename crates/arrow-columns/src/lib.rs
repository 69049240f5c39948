//! Columns in Apache Arrow's layout: the batch of WIT `ingest:source@0.3.0`.
//!
//! The guest builds them ([`Columns`]), the host reads and checks them
//! ([`View`]); the probe guest of the tests builds them too. Nothing here
//! depends on the WIT bindings: [`Kind`] and [`Column`] mirror the WIT's
//! `column-kind` and `column` one to one.
//!
//! Each column is a validity bitmap (LSB first), a values buffer
//! (little-endian fixed-width values, or a bitmap for booleans) and, for
//! text, `rows + 1` i32 offsets into UTF-8 bytes. The buffers cross the
//! component boundary as `list<u8>`, one copy each, where a row of typed
//! values crossed as one variant (and one allocation per string) per value.
//!
//! A column takes the kind of its first value. A value of another kind
//! later in the same batch (an integer beyond 64 bits in an integer column,
//! text in a timestamp column) turns the column into JSON text for this
//! batch: every value it holds is rewritten as the JSON the record has, so
//! nothing is lost and the host writes the same record.

/// The WIT's `column-kind`: how a column's values are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Arrow `utf8`.
    String,
    /// Arrow `int64`.
    Integer,
    /// Arrow `float64`.
    Number,
    /// Arrow `bool` (bit-packed).
    Boolean,
    /// Arrow `timestamp[us, tz=UTC]`.
    Timestamp,
    /// Arrow `date32`.
    Date,
    /// Arrow `utf8`, each value the text of one JSON value.
    Json,
}

/// The WIT's `column`: one column of a batch, its buffers built.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    pub null_count: u32,
    /// Empty when `null_count` is 0.
    pub validity: Vec<u8>,
    /// Text kinds only: `rows + 1` little-endian i32.
    pub offsets: Vec<u8>,
    pub values: Vec<u8>,
}

use Kind as ColumnKind;

/// One value as a column takes it, borrowing its text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Str(&'a str),
    Int(i64),
    Num(f64),
    Bool(bool),
    /// UTC microseconds since the Unix epoch.
    Ts(i64),
    /// Days since 1970-01-01.
    Date(i32),
    /// The text of one JSON value (an array or object, or any value of a
    /// column that fell back to JSON).
    Json(&'a str),
}

impl Cell<'_> {
    /// The kind of a column of such values (`None` for null).
    pub fn kind(&self) -> Option<ColumnKind> {
        Some(match self {
            Cell::Null => return None,
            Cell::Str(_) => ColumnKind::String,
            Cell::Int(_) => ColumnKind::Integer,
            Cell::Num(_) => ColumnKind::Number,
            Cell::Bool(_) => ColumnKind::Boolean,
            Cell::Ts(_) => ColumnKind::Timestamp,
            Cell::Date(_) => ColumnKind::Date,
            Cell::Json(_) => ColumnKind::Json,
        })
    }

    /// Appends the value as the JSON a record holds for it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let quoted = |out: &mut Vec<u8>, f: &dyn Fn(&mut String)| {
            let mut s = String::from("\"");
            f(&mut s);
            s.push('"');
            out.extend_from_slice(s.as_bytes());
        };
        match *self {
            Cell::Null => out.extend_from_slice(b"null"),
            Cell::Str(s) => push_json_str(out, s),
            Cell::Int(i) => {
                let _ = write!(out, "{i}");
            }
            // As the host writes a number: shortest round trip (ryu, via serde_json).
            Cell::Num(f) => match serde_json::Number::from_f64(f) {
                Some(n) => {
                    let _ = write!(out, "{n}");
                }
                None => out.extend_from_slice(b"null"),
            },
            Cell::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Cell::Ts(t) => quoted(out, &|s| civil_time::push_timestamp_micros(s, t)),
            Cell::Date(d) => quoted(out, &|s| civil_time::push_date_days(s, d)),
            Cell::Json(j) => out.extend_from_slice(j.as_bytes()),
        }
    }
}

/// Appends `s` as a JSON string literal (the host re-escapes it its own way).
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x00..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Bytes per value of a fixed-width kind (0: text or bits).
fn width(kind: ColumnKind) -> usize {
    match kind {
        ColumnKind::Integer | ColumnKind::Number | ColumnKind::Timestamp => 8,
        ColumnKind::Date => 4,
        ColumnKind::String | ColumnKind::Json | ColumnKind::Boolean => 0,
    }
}

fn is_text(kind: ColumnKind) -> bool {
    matches!(kind, ColumnKind::String | ColumnKind::Json)
}

fn bit(bits: &[u8], i: usize) -> bool {
    bits.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1)
}

/// Sets bit `i` of a bitmap that holds bits `0..i` (growing it by a byte as needed).
#[inline(always)]
fn push_bit(bits: &mut Vec<u8>, i: usize, on: bool) {
    if i.is_multiple_of(8) {
        bits.push(0);
    }
    if on {
        bits[i / 8] |= 1 << (i % 8);
    }
}

/// Keeps bits `0..n` of a bitmap.
fn truncate_bits(bits: &mut Vec<u8>, n: usize) {
    bits.truncate(n.div_ceil(8));
    if !n.is_multiple_of(8) {
        if let Some(last) = bits.last_mut() {
            *last &= (1u8 << (n % 8)) - 1;
        }
    }
}

/// One column being built.
#[derive(Default)]
pub struct ColumnBuilder {
    /// `None` while every row so far is null.
    kind: Option<ColumnKind>,
    /// The kind the column had in the previous batch, if any: the kind of
    /// a batch where it has no value, so its type stays put.
    last: Option<ColumnKind>,
    rows: usize,
    nulls: usize,
    validity: Vec<u8>,
    /// i32 offsets, little-endian, for text kinds.
    offsets: Vec<u8>,
    values: Vec<u8>,
}

impl ColumnBuilder {
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row. (Inlined: called for every value a guest maps, and
    /// the cell's kind is then known at the call.)
    #[inline(always)]
    pub fn push(&mut self, cell: Cell<'_>) {
        let Some(kind) = cell.kind() else { return self.push_null() };
        match self.kind {
            Some(k) if k == kind => {}
            None => self.start(kind),
            Some(ColumnKind::Json) => {}
            Some(_) => self.fall_back_to_json(),
        }
        push_bit(&mut self.validity, self.rows, true);
        self.rows += 1;
        self.push_value(cell);
    }

    pub fn push_null(&mut self) {
        push_bit(&mut self.validity, self.rows, false);
        self.nulls += 1;
        if let Some(kind) = self.kind {
            self.push_placeholder(kind, self.rows);
        }
        self.rows += 1;
    }

    /// Appends nulls up to `rows` rows, all at once (most columns of a
    /// card are null or absent in most rows: a null at a time was ~2% of a
    /// read).
    pub fn pad(&mut self, rows: usize) {
        if rows <= self.rows {
            return;
        }
        let n = rows - self.rows;
        // Bits past `self.rows` are clear (`push_bit`, `truncate_bits`), so
        // the new rows' validity is zero bytes.
        self.validity.resize(rows.div_ceil(8), 0);
        self.nulls += n;
        match self.kind {
            None => {}
            Some(ColumnKind::Boolean) => self.values.resize(rows.div_ceil(8), 0),
            Some(k) if is_text(k) => {
                let end = (self.values.len() as i32).to_le_bytes();
                self.offsets.reserve(4 * n);
                for _ in 0..n {
                    self.offsets.extend_from_slice(&end);
                }
            }
            Some(k) => self.values.resize(self.values.len() + n * width(k), 0),
        }
        self.rows = rows;
    }

    /// Writes the value of a row just counted (validity set) in the column's kind.
    #[inline(always)]
    fn push_value(&mut self, cell: Cell<'_>) {
        match (self.kind, cell) {
            (Some(ColumnKind::Json), Cell::Json(t)) | (Some(ColumnKind::String), Cell::Str(t)) => {
                self.values.extend_from_slice(t.as_bytes());
                self.end_text();
            }
            (Some(ColumnKind::Json), cell) => {
                cell.write_json(&mut self.values);
                self.end_text();
            }
            (_, Cell::Int(v) | Cell::Ts(v)) => self.values.extend_from_slice(&v.to_le_bytes()),
            (_, Cell::Num(v)) => self.values.extend_from_slice(&v.to_le_bytes()),
            (_, Cell::Date(v)) => self.values.extend_from_slice(&v.to_le_bytes()),
            (_, Cell::Bool(b)) => push_bit(&mut self.values, self.rows - 1, b),
            (_, Cell::Null | Cell::Str(_) | Cell::Json(_)) => unreachable_kind(),
        }
    }

    /// Ends the text value just written: its end offset. (Text of a batch is
    /// bounded far below 2 GiB by the batch bound and the element bound.)
    #[inline(always)]
    fn end_text(&mut self) {
        self.offsets.extend_from_slice(&(self.values.len() as i32).to_le_bytes());
    }

    /// The space a null row `row` takes in a column of `kind`.
    fn push_placeholder(&mut self, kind: ColumnKind, row: usize) {
        match kind {
            ColumnKind::Boolean => push_bit(&mut self.values, row, false),
            k if is_text(k) => self.end_text(),
            k => self.values.extend_from_slice(&[0u8; 8][..width(k)]),
        }
    }

    /// The first value arrives: the rows before it (all null) take their space.
    fn start(&mut self, kind: ColumnKind) {
        self.kind = Some(kind);
        self.offsets.clear();
        self.values.clear();
        // Every row so far is null: zero bits, zero values, offsets all 0.
        let rows = self.rows;
        match kind {
            ColumnKind::Boolean => self.values.resize(rows.div_ceil(8), 0),
            k if is_text(k) => self.offsets.resize(4 * (rows + 1), 0),
            k => self.values.resize(rows * width(k), 0),
        }
    }

    /// Row `i`'s value (`Null` past the end).
    pub fn cell(&self, i: usize) -> Cell<'_> {
        let Some(kind) = self.kind else { return Cell::Null };
        if i >= self.rows || !bit(&self.validity, i) {
            return Cell::Null;
        }
        let fixed = |w: usize| -> [u8; 8] {
            let mut b = [0u8; 8];
            b[..w].copy_from_slice(&self.values[i * w..i * w + w]);
            b
        };
        match kind {
            ColumnKind::Integer => Cell::Int(i64::from_le_bytes(fixed(8))),
            ColumnKind::Timestamp => Cell::Ts(i64::from_le_bytes(fixed(8))),
            ColumnKind::Number => Cell::Num(f64::from_le_bytes(fixed(8))),
            ColumnKind::Date => Cell::Date(i32::from_le_bytes(fixed(4)[..4].try_into().expect("4 bytes"))),
            ColumnKind::Boolean => Cell::Bool(bit(&self.values, i)),
            ColumnKind::String | ColumnKind::Json => {
                let at = |k: usize| i32::from_le_bytes(self.offsets[k * 4..k * 4 + 4].try_into().expect("4 bytes")) as usize;
                // Written whole from `&str`s, so on character boundaries.
                let text = std::str::from_utf8(&self.values[at(i)..at(i + 1)]).unwrap_or_default();
                if kind == ColumnKind::Json { Cell::Json(text) } else { Cell::Str(text) }
            }
        }
    }

    /// Rewrites every value as JSON text: a value of another kind arrived.
    fn fall_back_to_json(&mut self) {
        let old = std::mem::take(self);
        self.kind = Some(ColumnKind::Json);
        self.offsets.extend_from_slice(&0i32.to_le_bytes());
        for i in 0..old.rows {
            match old.cell(i) {
                Cell::Null => self.push_null(),
                cell => {
                    push_bit(&mut self.validity, self.rows, true);
                    self.rows += 1;
                    self.push_value(cell);
                }
            }
        }
    }

    /// Keeps rows `0..n` (a row read and then not kept).
    pub fn truncate(&mut self, n: usize) {
        if n >= self.rows {
            return;
        }
        self.nulls -= (n..self.rows).filter(|&i| !bit(&self.validity, i)).count();
        truncate_bits(&mut self.validity, n);
        match self.kind {
            None => {}
            Some(ColumnKind::Boolean) => truncate_bits(&mut self.values, n),
            Some(k) if is_text(k) => {
                self.offsets.truncate((n + 1) * 4);
                let end = i32::from_le_bytes(self.offsets[n * 4..n * 4 + 4].try_into().expect("4 bytes"));
                self.values.truncate(end as usize);
            }
            Some(k) => self.values.truncate(n * width(k)),
        }
        self.rows = n;
    }

    /// The column as it crosses, padded with nulls to `rows`; the builder is
    /// left empty for the next batch.
    pub fn finish(&mut self, name: String, rows: usize, declared: Option<ColumnKind>) -> Column {
        self.pad(rows);
        if self.kind.is_none() {
            self.start(self.last.or(declared).unwrap_or(ColumnKind::String));
        }
        // The next batch's buffers start at this one's sizes: no doubling
        // and copying on the way up, batch after batch.
        let sized = ColumnBuilder {
            validity: Vec::with_capacity(self.validity.len()),
            offsets: Vec::with_capacity(self.offsets.len()),
            values: Vec::with_capacity(self.values.len()),
            last: self.kind,
            ..ColumnBuilder::default()
        };
        let b = std::mem::replace(self, sized);
        Column {
            name,
            kind: b.kind.unwrap_or(ColumnKind::String),
            null_count: b.nulls as u32,
            validity: if b.nulls == 0 { Vec::new() } else { b.validity },
            offsets: b.offsets,
            values: b.values,
        }
    }
}

#[cold]
fn unreachable_kind() {
    // `push` starts or converts the column before writing, so a value
    // always meets its own kind or JSON here.
    debug_assert!(false, "a value met a column of another kind");
}

/// The columns of one stream's batch being built.
#[derive(Default)]
pub struct Columns {
    rows: usize,
    cols: Vec<ColumnBuilder>,
}

impl Columns {
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends a row of cells (shorter than the columns: null in the rest).
    pub fn push_row<'a>(&mut self, row: impl IntoIterator<Item = Cell<'a>>) {
        for (i, cell) in row.into_iter().enumerate() {
            self.set(i, cell);
        }
        self.end_row();
    }

    /// Sets column `i` of the row being written (the last set wins).
    #[inline(always)]
    pub fn set(&mut self, i: usize, cell: Cell<'_>) {
        if i >= self.cols.len() {
            self.cols.resize_with(i + 1, ColumnBuilder::default);
        }
        let col = &mut self.cols[i];
        // Usually the column is at the row being written: nothing to mend.
        if col.rows != self.rows {
            col.truncate(self.rows);
            col.pad(self.rows);
        }
        col.push(cell);
    }

    /// Row `row`'s value in column `i` (the row being written: `self.rows()`).
    pub fn cell(&self, i: usize, row: usize) -> Cell<'_> {
        self.cols.get(i).map_or(Cell::Null, |c| c.cell(row))
    }

    /// The row being written is complete.
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Forgets the row being written.
    pub fn drop_row(&mut self) {
        for col in &mut self.cols {
            col.truncate(self.rows);
        }
    }

    /// The batch's columns, named. A column with no value keeps the kind it
    /// had in the previous batch, or has its `declared` kind (a missing or
    /// `None` entry: `string`). Leaves no row
    /// (the builders keep their sizes for the next batch).
    pub fn finish(&mut self, names: &[String], declared: &[Option<ColumnKind>]) -> (u32, Vec<Column>) {
        let rows = std::mem::take(&mut self.rows);
        self.cols.resize_with(names.len(), ColumnBuilder::default);
        let columns = names
            .iter()
            .zip(&mut self.cols)
            .enumerate()
            .map(|(i, (name, col))| col.finish(name.clone(), rows, declared.get(i).copied().flatten()))
            .collect();
        (rows as u32, columns)
    }
}

/// `From` conversions between this crate's [`Kind`] and [`Column`] and a
/// WIT bindings' `column-kind` and `column` (each bindings generator, the
/// guest's, the host's, the probe's, makes its own types): both kinds each
/// way, and a built column into the bindings' one. Call it where both
/// bindings types are in scope by these names.
#[macro_export]
macro_rules! wit_conversions {
    ($column:ident, $kind:ident) => {
        impl From<$kind> for $crate::Kind {
            fn from(k: $kind) -> Self {
                match k {
                    $kind::String => $crate::Kind::String,
                    $kind::Integer => $crate::Kind::Integer,
                    $kind::Number => $crate::Kind::Number,
                    $kind::Boolean => $crate::Kind::Boolean,
                    $kind::Timestamp => $crate::Kind::Timestamp,
                    $kind::Date => $crate::Kind::Date,
                    $kind::Json => $crate::Kind::Json,
                }
            }
        }

        impl From<$crate::Kind> for $kind {
            fn from(k: $crate::Kind) -> Self {
                match k {
                    $crate::Kind::String => $kind::String,
                    $crate::Kind::Integer => $kind::Integer,
                    $crate::Kind::Number => $kind::Number,
                    $crate::Kind::Boolean => $kind::Boolean,
                    $crate::Kind::Timestamp => $kind::Timestamp,
                    $crate::Kind::Date => $kind::Date,
                    $crate::Kind::Json => $kind::Json,
                }
            }
        }

        impl From<$crate::Column> for $column {
            fn from(c: $crate::Column) -> Self {
                $column {
                    name: c.name,
                    kind: c.kind.into(),
                    null_count: c.null_count,
                    validity: c.validity,
                    offsets: c.offsets,
                    values: c.values,
                }
            }
        }
    };
}

/// Why a column's buffers are not the layout its kind says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A column's buffers, checked once, read cell by cell: what a host does
/// with a column from an untrusted component.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    kind: Kind,
    rows: usize,
    /// `None`: every row has a value.
    validity: Option<&'a [u8]>,
    offsets: &'a [u8],
    values: &'a [u8],
    /// `values` as text, for the text kinds.
    text: &'a str,
}

impl<'a> View<'a> {
    /// Checks every buffer against `kind` and `rows`: sizes, the null
    /// count, offsets (from 0 up, within the text, on character
    /// boundaries) and UTF-8.
    pub fn new(kind: Kind, rows: usize, null_count: u32, validity: &'a [u8], offsets: &'a [u8], values: &'a [u8]) -> Result<Self, LayoutError> {
        let bad = |what: String| Err(LayoutError(what));
        let bitmap = rows.div_ceil(8);
        let validity = match (null_count, validity.len()) {
            (0, 0) => None,
            (_, n) if n != bitmap => return bad(format!("a validity bitmap of {n} bytes for {rows} rows")),
            (nulls, _) => {
                let valid = (0..rows).filter(|&i| bit(validity, i)).count();
                if rows - valid != nulls as usize {
                    return bad(format!("a null count of {nulls} where the bitmap has {}", rows - valid));
                }
                Some(validity)
            }
        };
        let mut text = "";
        let want = match kind {
            Kind::Boolean => bitmap,
            k if is_text(k) => {
                text = match std::str::from_utf8(values) {
                    Ok(t) => t,
                    Err(e) => return bad(format!("text that is not UTF-8 (at byte {})", e.valid_up_to())),
                };
                check_offsets(offsets, rows, text)?;
                values.len()
            }
            k => rows * width(k),
        };
        if values.len() != want {
            return bad(format!("{} bytes of values for {rows} rows of kind {kind:?}", values.len()));
        }
        if !is_text(kind) && !offsets.is_empty() {
            return bad(format!("offsets in a column of kind {kind:?}"));
        }
        Ok(View { kind, rows, validity, offsets, values, text })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Every value of a text column, one after another (empty for other
    /// kinds): what a host checks once for the whole column, where a check
    /// that finds nothing there holds for every value.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Row `i`'s value (`Null` past the end).
    #[inline]
    pub fn cell(&self, i: usize) -> Cell<'a> {
        if i >= self.rows || self.validity.is_some_and(|v| !bit(v, i)) {
            return Cell::Null;
        }
        let word = |w: usize| -> [u8; 8] {
            let mut b = [0u8; 8];
            b[..w].copy_from_slice(&self.values[i * w..i * w + w]);
            b
        };
        match self.kind {
            Kind::Integer => Cell::Int(i64::from_le_bytes(word(8))),
            Kind::Timestamp => Cell::Ts(i64::from_le_bytes(word(8))),
            Kind::Number => Cell::Num(f64::from_le_bytes(word(8))),
            Kind::Date => Cell::Date(i64::from_le_bytes(word(4)) as i32),
            Kind::Boolean => Cell::Bool(bit(self.values, i)),
            Kind::String | Kind::Json => {
                // Checked in `new`: within the text, on character boundaries.
                let t = &self.text[offset(self.offsets, i)..offset(self.offsets, i + 1)];
                if self.kind == Kind::Json { Cell::Json(t) } else { Cell::Str(t) }
            }
        }
    }
}

/// Offset `k` of a checked offsets buffer.
#[inline(always)]
fn offset(offsets: &[u8], k: usize) -> usize {
    i32::from_le_bytes(offsets[k * 4..k * 4 + 4].try_into().expect("4 bytes")) as usize
}

fn check_offsets(offsets: &[u8], rows: usize, text: &str) -> Result<(), LayoutError> {
    if offsets.len() != (rows + 1) * 4 {
        return Err(LayoutError(format!("{} bytes of offsets for {rows} rows", offsets.len())));
    }
    let mut last = 0i32;
    for k in 0..=rows {
        let o = i32::from_le_bytes(offsets[k * 4..k * 4 + 4].try_into().expect("4 bytes"));
        if o < last || (k == 0 && o != 0) || !text.is_char_boundary(o as usize) || o as usize > text.len() {
            return Err(LayoutError(format!("offset {k} ({o}) out of order, out of the text or inside a character")));
        }
        last = o;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i32s(b: &[u8]) -> Vec<i32> {
        b.chunks(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect()
    }

    fn i64s(b: &[u8]) -> Vec<i64> {
        b.chunks(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
    }

    #[test]
    fn rows_become_arrow_buffers() {
        let mut c = Columns::default();
        c.push_row([Cell::Int(1), Cell::Str("ab"), Cell::Bool(true)]);
        c.push_row([Cell::Null, Cell::Str("é")]);
        c.push_row([Cell::Int(-3), Cell::Null, Cell::Bool(false), Cell::Date(19_724)]);
        let names: Vec<String> = ["id", "name", "ok", "day", "none"].iter().map(|s| s.to_string()).collect();
        let (rows, cols) = c.finish(&names, &[None, None, None, None, Some(ColumnKind::Timestamp)]);
        assert_eq!(rows, 3);
        let id = &cols[0];
        assert_eq!((id.kind, id.null_count, id.validity.clone()), (ColumnKind::Integer, 1, vec![0b101]));
        assert_eq!(i64s(&id.values), [1, 0, -3]);
        let name = &cols[1];
        assert_eq!((name.kind, name.null_count, name.validity.clone()), (ColumnKind::String, 1, vec![0b011]));
        assert_eq!(i32s(&name.offsets), [0, 2, 4, 4]);
        assert_eq!(name.values, "abé".as_bytes());
        let ok = &cols[2];
        assert_eq!((ok.kind, ok.validity.clone(), ok.values.clone()), (ColumnKind::Boolean, vec![0b101], vec![0b001]));
        let day = &cols[3];
        assert_eq!((day.kind, day.validity.clone(), i32s(&day.values)), (ColumnKind::Date, vec![0b100], vec![0, 0, 19_724]));
        let none = &cols[4];
        assert_eq!((none.kind, none.null_count, none.validity.clone(), i64s(&none.values)), (ColumnKind::Timestamp, 3, vec![0], vec![0, 0, 0]));
        assert!(id.offsets.is_empty());
    }

    #[test]
    fn mixed_kinds_fall_back_to_json_text() {
        let mut c = Columns::default();
        for v in [
            Cell::Ts(1_718_798_255_859_990),
            Cell::Null,
            Cell::Str("not \"a\" time"),
            Cell::Int(7),
            Cell::Num(0.5),
            Cell::Date(0),
            Cell::Json("{\"a\": 1}"),
            Cell::Bool(false),
        ] {
            c.push_row([v]);
        }
        let (_, cols) = c.finish(&["t".into()], &[]);
        let col = &cols[0];
        assert_eq!((col.kind, col.null_count), (ColumnKind::Json, 1));
        let offsets = i32s(&col.offsets);
        let texts: Vec<&str> = offsets.windows(2).map(|w| std::str::from_utf8(&col.values[w[0] as usize..w[1] as usize]).unwrap()).collect();
        assert_eq!(
            texts,
            ["\"2024-06-19T11:57:35.859990Z\"", "", "\"not \\\"a\\\" time\"", "7", "0.5", "\"1970-01-01\"", "{\"a\": 1}", "false"]
        );
    }

    #[test]
    fn a_dropped_row_leaves_no_trace() {
        let mut c = Columns::default();
        c.push_row([Cell::Int(1), Cell::Str("a"), Cell::Bool(true)]);
        c.set(0, Cell::Int(2));
        c.set(1, Cell::Str("bb"));
        c.set(2, Cell::Null);
        assert_eq!(c.cell(1, 1), Cell::Str("bb"));
        c.drop_row();
        c.set(1, Cell::Str("c"));
        c.set(1, Cell::Str("d"));
        c.end_row();
        let (rows, cols) = c.finish(&["id".into(), "s".into(), "b".into()], &[]);
        assert_eq!(rows, 2);
        assert_eq!((cols[0].null_count, i64s(&cols[0].values)), (1, vec![1, 0]));
        assert_eq!((i32s(&cols[1].offsets), cols[1].values.clone()), (vec![0, 1, 2], b"ad".to_vec()));
        assert_eq!((cols[2].validity.clone(), cols[2].values.clone()), (vec![0b01], vec![0b01]));
    }

    #[test]
    fn views_read_back_what_was_built_and_refuse_bad_buffers() {
        let mut c = Columns::default();
        let rows = [
            [Cell::Int(5), Cell::Str("é"), Cell::Num(1.5), Cell::Bool(true), Cell::Ts(-1), Cell::Date(-2), Cell::Json("[1]")],
            [Cell::Null, Cell::Null, Cell::Null, Cell::Bool(false), Cell::Null, Cell::Null, Cell::Null],
        ];
        for row in rows {
            c.push_row(row);
        }
        let names: Vec<String> = (0..7).map(|i| i.to_string()).collect();
        let (n, cols) = c.finish(&names, &[]);
        for (k, col) in cols.iter().enumerate() {
            let v = View::new(col.kind, n as usize, col.null_count, &col.validity, &col.offsets, &col.values).unwrap();
            assert_eq!((0..2).map(|i| v.cell(i)).collect::<Vec<_>>(), [rows[0][k], rows[1][k]]);
        }
        let s = &cols[1];
        let view = |offsets: &[u8], values: &[u8]| View::new(Kind::String, 2, 1, &s.validity, offsets, values).map(|_| ());
        assert!(view(&s.offsets, &s.values).is_ok());
        assert!(view(&s.offsets, &s.values[..1]).is_err(), "a cut character");
        assert!(view(&[0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0], &s.values).is_err(), "inside a character");
        assert!(view(&[0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0], &s.values).is_err(), "out of order");
        assert!(view(&s.offsets[..8], &s.values).is_err(), "too few offsets");
        assert!(View::new(Kind::String, 2, 0, &[], &s.offsets, &s.values).is_ok());
        assert!(View::new(Kind::String, 2, 2, &s.validity, &s.offsets, &s.values).is_err(), "wrong null count");
        assert!(View::new(Kind::Integer, 2, 1, &cols[0].validity, &[], &cols[0].values[..8]).is_err(), "short values");
        assert!(View::new(Kind::Integer, 2, 1, &cols[0].validity, &s.offsets, &cols[0].values).is_err(), "offsets of a number");
    }

    #[test]
    fn nulls_added_in_bulk_read_back_as_nulls() {
        // A column's first value after 9 null rows, gaps of absent rows
        // across byte boundaries, and absent rows at the end: every kind.
        let values = [Cell::Bool(true), Cell::Str("é"), Cell::Int(-7), Cell::Date(3), Cell::Json("[1]")];
        let mut c = Columns::default();
        for row in 0..20 {
            if row % 6 == 3 && row > 8 {
                for (i, v) in values.iter().enumerate() {
                    c.set(i, *v);
                }
            }
            c.end_row();
        }
        let names: Vec<String> = (0..values.len()).map(|i| i.to_string()).collect();
        let (rows, cols) = c.finish(&names, &[]);
        assert_eq!(rows, 20);
        for (col, v) in cols.iter().zip(values) {
            let view = View::new(col.kind, 20, col.null_count, &col.validity, &col.offsets, &col.values).unwrap();
            let got: Vec<Cell> = (0..20).map(|i| view.cell(i)).collect();
            let want: Vec<Cell> = (0..20).map(|i| if i % 6 == 3 && i > 8 { v } else { Cell::Null }).collect();
            assert_eq!(got, want, "{:?}", col.kind);
            assert_eq!(col.null_count, 18);
        }
    }

    #[test]
    fn a_batch_after_another_starts_empty() {
        let mut c = Columns::default();
        c.push_row([Cell::Int(1), Cell::Str("first")]);
        let names: Vec<String> = vec!["id".into(), "s".into()];
        c.finish(&names, &[]);
        c.push_row([Cell::Null, Cell::Str("b")]);
        c.push_row([Cell::Int(3)]);
        let (rows, cols) = c.finish(&names, &[]);
        assert_eq!(rows, 2);
        assert_eq!((cols[0].null_count, cols[0].validity.clone(), i64s(&cols[0].values)), (1, vec![0b10], vec![0, 3]));
        assert_eq!((i32s(&cols[1].offsets), cols[1].values.clone()), (vec![0, 1, 1], b"b".to_vec()));
    }

    #[test]
    fn a_column_without_values_keeps_its_last_kind() {
        let mut c = Columns::default();
        let names: Vec<String> = vec!["a".into(), "b".into()];
        c.push_row([Cell::Int(1), Cell::Str("x")]);
        c.push_row([Cell::Str("not a number"), Cell::Null]);
        let (_, first) = c.finish(&names, &[Some(Kind::Integer), None]);
        assert_eq!((first[0].kind, first[1].kind), (Kind::Json, Kind::String));
        c.push_row([Cell::Null, Cell::Null]);
        let (_, second) = c.finish(&names, &[Some(Kind::Integer), None]);
        assert_eq!((second[0].kind, second[1].kind), (Kind::Json, Kind::String));
        assert_eq!((second[0].null_count, i32s(&second[0].offsets)), (1, vec![0, 0]));
        let mut fresh = Columns::default();
        fresh.push_row([Cell::Null]);
        assert_eq!(fresh.finish(&names, &[Some(Kind::Date)]).1[1].kind, Kind::String);
    }
}
