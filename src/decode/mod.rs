//! Decoding Metabase's answers as they arrive: JSON lists (bare or in an
//! envelope, or at a path inside an object) into raw elements, elements into
//! typed rows, and CSV exports into records. The strict JSON scanner they
//! stand on is the `json-scan` crate (shared with the host).

pub mod csv;
pub mod json_list;
pub mod row;
pub mod map_rows;
pub mod value;
