//! The tables a native SQL query reads, found by a best-effort scanner.
//!
//! Metabase stores a native card's SQL as text; only the database can parse
//! it for sure (dialects differ). This scanner finds the table names that
//! follow `FROM` and `JOIN` (and the `,` of a `FROM` list), which covers the
//! queries people write, and says so: every table it reports is marked
//! best effort by the `lineage` stream. What it understands:
//!
//! - comments (`-- …`, `# …` is *not* a comment, `/* … */`), string literals
//!   (`'…'` with `''`, Postgres `$tag$…$tag$`), which are skipped;
//! - quoted identifiers (`"…"` with `""`, `` `…` ``, `[…]`), unquoted; a
//!   backquoted name holding dots (BigQuery's `` `project.dataset.table` ``)
//!   is split at them;
//! - dotted names (`catalog.schema.table`): the last part is the table, the
//!   one before it the schema;
//! - names defined by `WITH name AS (…)` (common table expressions), which
//!   are not tables and are left out wherever they are used;
//! - subqueries (`FROM (SELECT …) t`): the tables inside are found, the
//!   subquery itself is not a table; table functions (`FROM unnest(…)`) are
//!   skipped; `FROM` inside a call (`EXTRACT(YEAR FROM d)`, `TRIM(x FROM y)`)
//!   and `IS DISTINCT FROM` are not table references;
//! - Metabase's template syntax: `[[ … ]]` optional clauses are read as if
//!   present, `{{#12-name}}` is a reference to card 12, `{{snippet: name}}`
//!   to a snippet, and other `{{variables}}` are values.
//!
//! Limits: names are reported as written (unquoted names are not case
//! folded, so `Orders` and `orders` are two names), and resolving them to
//! Metabase table ids would need each database's search path; a snippet's
//! own SQL is not read; dynamic SQL, stored procedures and dialect syntax the
//! rules above do not name may give a wrong or missing table. The scanner
//! never fails and takes time linear in the text.

/// Where a table was named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clause {
    /// After `FROM` (or a `,` of a `FROM` list).
    From,
    /// After `JOIN`.
    Join,
}

/// One table reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// The dotted name's parts, unquoted: `["public", "orders"]`.
    pub parts: Vec<String>,
    pub clause: Clause,
}

impl TableRef {
    pub fn table(&self) -> &str {
        self.parts.last().map(String::as_str).unwrap_or("")
    }

    pub fn schema(&self) -> Option<&str> {
        (self.parts.len() >= 2).then(|| self.parts[self.parts.len() - 2].as_str())
    }

    /// The parts joined by dots, as the stream names the table.
    pub fn name(&self) -> String {
        self.parts.join(".")
    }
}

/// What the scanner found in one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Tables, in the order first named, each once (by name and clause of first use).
    pub tables: Vec<TableRef>,
    /// Cards named as `{{#12}}` / `{{#12-name}}`.
    pub cards: Vec<i64>,
    /// Snippets named as `{{snippet: name}}`.
    pub snippets: Vec<String>,
}

/// One token of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word (identifier or keyword), as written.
    Word(String),
    /// A quoted identifier, unquoted; backquoted ones with dots are split.
    Quoted(Vec<String>),
    Dot,
    Comma,
    Open,
    Close,
    Semicolon,
    /// `{{#12-name}}`.
    CardTag(i64),
    /// `{{snippet: name}}`.
    Snippet(String),
    /// A literal, an operator, a `{{variable}}`: anything else.
    Other,
}

/// Scans `sql` for the tables, cards and snippets it names.
pub fn scan(sql: &str) -> Found {
    let tokens = tokenize(sql);
    let ctes = cte_names(&tokens);
    let mut found = Found::default();
    for t in &tokens {
        match t {
            Token::CardTag(id) if !found.cards.contains(id) => found.cards.push(*id),
            Token::Snippet(name) if !found.snippets.contains(name) => found.snippets.push(name.clone()),
            _ => {}
        }
    }
    for table in table_refs(&tokens) {
        let is_cte = table.parts.len() == 1 && ctes.iter().any(|c| c.eq_ignore_ascii_case(&table.parts[0]));
        if !is_cte && !found.tables.iter().any(|t| t.parts == table.parts) {
            found.tables.push(table);
        }
    }
    found
}

/// The text as tokens; comments, whitespace and `[[`/`]]` markers dropped.
fn tokenize(sql: &str) -> Vec<Token> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let rest = &b[i..];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if rest.starts_with(b"--") {
            i = find_from(b, i, b"\n").map_or(b.len(), |e| e + 1);
        } else if rest.starts_with(b"/*") {
            i = find_from(b, i + 2, b"*/").map_or(b.len(), |e| e + 2);
        } else if rest.starts_with(b"[[") || rest.starts_with(b"]]") {
            i += 2;
        } else if rest.starts_with(b"{{") {
            let end = find_from(b, i + 2, b"}}").unwrap_or(b.len());
            out.push(template_tag(&sql[i + 2..end]));
            i = (end + 2).min(b.len());
        } else if c == b'\'' {
            i = skip_quoted(b, i, b'\'').0;
            out.push(Token::Other);
        } else if c == b'"' || c == b'`' {
            let (end, closed) = skip_quoted(b, i, c);
            let inner = &sql[i + 1..if closed { end - 1 } else { end }];
            let doubled = if c == b'"' { "\"\"" } else { "``" };
            let name = inner.replace(doubled, &doubled[..1]);
            let parts = if c == b'`' { name.split('.').map(str::to_string).collect() } else { vec![name] };
            out.push(Token::Quoted(parts));
            i = end;
        } else if c == b'[' {
            let end = find_from(b, i + 1, b"]").unwrap_or(b.len());
            out.push(Token::Quoted(vec![sql[i + 1..end].to_string()]));
            i = (end + 1).min(b.len());
        } else if c == b'$' {
            i = skip_dollar(sql, i, &mut out);
        } else if is_word_byte(c) {
            let start = i;
            while i < b.len() && (is_word_byte(b[i]) || b[i] == b'$') {
                i += 1;
            }
            out.push(Token::Word(sql[start..i].to_string()));
        } else {
            out.push(match c {
                b'.' => Token::Dot,
                b',' => Token::Comma,
                b'(' => Token::Open,
                b')' => Token::Close,
                b';' => Token::Semicolon,
                _ => Token::Other,
            });
            i += 1;
            // Keep multi-byte characters whole: skip their continuation bytes.
            while i < b.len() && (b[i] & 0xC0) == 0x80 {
                i += 1;
            }
        }
    }
    out
}

/// Letters, digits, `_` and any non-ASCII character start or continue a word.
fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// Where `needle` next starts at or after `from`.
fn find_from(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from > b.len() {
        return None;
    }
    b[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// The end (just past the closing quote) of a quoted run opening at `i`,
/// and whether it was closed; a doubled quote is an escaped one. Unclosed:
/// the end of the text.
fn skip_quoted(b: &[u8], i: usize, quote: u8) -> (usize, bool) {
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == quote {
            if b.get(j + 1) == Some(&quote) {
                j += 2;
                continue;
            }
            return (j + 1, true);
        }
        j += 1;
    }
    (b.len(), false)
}

/// A `$tag$…$tag$` string (Postgres) is skipped; a lone `$` (a `$1`
/// parameter) is another token.
fn skip_dollar(sql: &str, i: usize, out: &mut Vec<Token>) -> usize {
    let b = sql.as_bytes();
    let mut j = i + 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    out.push(Token::Other);
    if b.get(j) != Some(&b'$') {
        return j;
    }
    let tag = &b[i..=j];
    find_from(b, j + 1, tag).map_or(b.len(), |e| e + tag.len())
}

/// `{{#12-name}}`, `{{snippet: name}}` or a variable.
fn template_tag(inner: &str) -> Token {
    let inner = inner.trim();
    if let Some(rest) = inner.strip_prefix('#') {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(id) = digits.parse() {
            return Token::CardTag(id);
        }
    }
    let lower = inner.get(..8).map(str::to_ascii_lowercase);
    if lower.as_deref() == Some("snippet:") {
        return Token::Snippet(inner[8..].trim().to_string());
    }
    Token::Other
}

fn is_kw(t: Option<&Token>, kw: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
}

/// Words that end a table reference instead of naming its alias.
const NOT_ALIAS: &[&str] = &[
    "where", "group", "order", "having", "limit", "offset", "join", "inner", "left", "right", "full", "cross",
    "natural", "outer", "on", "using", "union", "except", "intersect", "minus", "window", "fetch", "for", "lateral",
    "qualify", "tablesample", "final", "sample", "prewhere", "straight_join", "select", "from", "into", "returning",
    "connect", "start", "pivot", "unpivot", "match_recognize", "asof", "positional", "anti", "semi", "array",
];

/// The names defined by `WITH [RECURSIVE] a [(cols)] AS (…), b AS (…)`:
/// a word (or quoted name) followed by `AS (` or `(cols) AS (`.
fn cte_names(tokens: &[Token]) -> Vec<String> {
    let mut names = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let name = match t {
            Token::Word(w) => w.clone(),
            Token::Quoted(p) if p.len() == 1 => p[0].clone(),
            _ => continue,
        };
        let prev = i.checked_sub(1).map(|p| &tokens[p]);
        let after_with = is_kw(prev, "with") || is_kw(prev, "recursive") || matches!(prev, Some(Token::Comma));
        if !after_with {
            continue;
        }
        let mut j = i + 1;
        if matches!(tokens.get(j), Some(Token::Open)) {
            j = match close_of(tokens, j) {
                Some(c) => c + 1,
                None => continue,
            };
        }
        if is_kw(tokens.get(j), "as") {
            j += 1;
            while is_kw(tokens.get(j), "not") || is_kw(tokens.get(j), "materialized") {
                j += 1;
            }
            if matches!(tokens.get(j), Some(Token::Open)) {
                names.push(name);
            }
        }
    }
    names
}

/// The index of the `)` that closes the `(` at `open`.
fn close_of(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, t) in tokens.iter().enumerate().skip(open) {
        match t {
            Token::Open => depth += 1,
            Token::Close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

/// One level of parentheses: whether it is a call's argument list (where
/// `FROM` is an argument keyword) that holds no `SELECT` of its own.
/// `tables`: a group right after `FROM`/`JOIN` (`FROM (a JOIN b ON …)`),
/// whose first name is a table.
#[derive(Clone, Copy)]
struct Paren {
    call: bool,
    select: bool,
    tables: Option<Clause>,
}

/// Every table reference after `FROM`, `JOIN` or a `FROM` list's `,`.
fn table_refs(tokens: &[Token]) -> Vec<TableRef> {
    let mut refs = Vec::new();
    const TOP: Paren = Paren { call: false, select: true, tables: None };
    let mut parens: Vec<Paren> = vec![TOP];
    // Per depth: whether a `,` there continues a FROM list.
    let mut from_list: Vec<bool> = vec![false];
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        match t {
            Token::Open => {
                let prev = i.checked_sub(1).map(|p| &tokens[p]);
                let call = matches!(prev, Some(Token::Word(w)) if !is_keyword(w));
                let tables = match prev {
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("from") => Some(Clause::From),
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("join") => Some(Clause::Join),
                    Some(Token::Open) => parens.last().and_then(|p| p.tables),
                    _ => None,
                };
                parens.push(Paren { call, select: false, tables });
                from_list.push(false);
            }
            Token::Close => {
                if parens.len() > 1 {
                    parens.pop();
                    from_list.pop();
                }
            }
            Token::Word(w) if w.eq_ignore_ascii_case("select") || w.eq_ignore_ascii_case("with") => {
                if let Some(p) = parens.last_mut() {
                    p.select = true;
                }
            }
            _ => {}
        }
        let here = parens.last().copied().unwrap_or(TOP);
        let clause = match t {
            Token::Open if here.tables.is_some() && names_a_table(tokens.get(i + 1)) => here.tables,
            Token::Word(w) if w.eq_ignore_ascii_case("from") && (!here.call || here.select) => {
                let distinct = is_kw(i.checked_sub(1).map(|p| &tokens[p]), "distinct");
                (!distinct).then_some(Clause::From)
            }
            Token::Word(w) if w.eq_ignore_ascii_case("join") => Some(Clause::Join),
            Token::Comma if from_list.last() == Some(&true) => Some(Clause::From),
            Token::Word(w) if NOT_ALIAS.contains(&w.to_ascii_lowercase().as_str()) => {
                if let Some(f) = from_list.last_mut() {
                    *f = false;
                }
                None
            }
            _ => None,
        };
        i += 1;
        if let Some(clause) = clause {
            let (table, next) = table_at(tokens, i, clause);
            if let Some(f) = from_list.last_mut() {
                *f = clause == Clause::From || *f;
            }
            refs.extend(table);
            i = next;
        }
    }
    refs
}

/// The table reference starting at `i` (after `FROM`/`JOIN`), and where
/// scanning goes on: after its name and alias, or at a `(` (a subquery, whose
/// tables the scan finds inside).
fn table_at(tokens: &[Token], mut i: usize, clause: Clause) -> (Option<TableRef>, usize) {
    while ["lateral", "only", "table"].iter().any(|k| is_kw(tokens.get(i), k)) {
        i += 1;
    }
    let mut parts = Vec::new();
    let mut dangling = false;
    loop {
        match tokens.get(i) {
            Some(Token::Word(w)) if parts.is_empty() && is_keyword(w) => return (None, i),
            Some(Token::Word(w)) => parts.push(w.clone()),
            Some(Token::Quoted(p)) => parts.extend(p.iter().cloned()),
            _ => break,
        }
        i += 1;
        dangling = matches!(tokens.get(i), Some(Token::Dot));
        if !dangling {
            break;
        }
        i += 1;
    }
    if parts.is_empty() || dangling || matches!(tokens.get(i), Some(Token::Open)) {
        // A subquery, a table function, a template tag, a name cut short, or nothing.
        return (None, i);
    }
    // The alias: `[AS] name`, with an optional column list.
    if is_kw(tokens.get(i), "as") {
        i += 1;
    }
    match tokens.get(i) {
        Some(Token::Word(w)) if !NOT_ALIAS.contains(&w.to_ascii_lowercase().as_str()) && !is_keyword(w) => i += 1,
        Some(Token::Quoted(_)) => i += 1,
        _ => {}
    }
    (Some(TableRef { parts, clause }), i)
}

/// Whether a table reference can start with `t`.
fn names_a_table(t: Option<&Token>) -> bool {
    match t {
        Some(Token::Word(w)) => !is_keyword(w),
        Some(Token::Quoted(_)) => true,
        _ => false,
    }
}

/// Words that cannot be a table's name or alias here.
fn is_keyword(w: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "select", "from", "where", "join", "on", "as", "and", "or", "not", "in", "exists", "is", "null", "case", "when",
        "then", "else", "end", "union", "all", "distinct", "with", "values", "group", "order", "by", "having", "limit",
        "between", "like", "ilike", "any", "some", "cast", "over", "partition", "set", "update", "delete", "insert",
        "into", "recursive", "using", "inner", "left", "right", "full", "outer", "cross", "natural", "lateral",
    ];
    KEYWORDS.contains(&w.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Vec<String> {
        scan(sql).tables.iter().map(TableRef::name).collect()
    }

    #[test]
    fn from_and_join_with_schema_and_aliases() {
        let sql = "SELECT o.id, p.title FROM public.orders o LEFT OUTER JOIN products AS p ON o.product_id = p.id \
                   INNER JOIN analytics.public.people pe ON pe.id = o.user_id WHERE o.total > 10";
        let found = scan(sql);
        assert_eq!(names(sql), ["public.orders", "products", "analytics.public.people"]);
        assert_eq!(found.tables[0].schema(), Some("public"));
        assert_eq!(found.tables[0].table(), "orders");
        assert_eq!(found.tables[0].clause, Clause::From);
        assert_eq!(found.tables[1].clause, Clause::Join);
        assert_eq!(found.tables[1].schema(), None);
        assert_eq!(found.tables[2].schema(), Some("public"));
    }

    #[test]
    fn comma_lists_and_case_of_keywords() {
        assert_eq!(names("select * from a, b x, c as y where a.id = b.id"), ["a", "b", "c"]);
        assert_eq!(names("SeLeCt 1 FrOm A JoIn B uSiNg (id)"), ["A", "B"]);
        // A comma after the FROM list (in the WHERE or the SELECT list) is no table.
        assert_eq!(names("select f(a, b) from t where x in (1, 2) group by a, b"), ["t"]);
    }

    #[test]
    fn comments_and_strings_hide_their_contents() {
        let sql = "-- from secret\nselect 'from fake', $$ from dollar $$, $x$ join y $x$ /* join hidden */ from real_one";
        assert_eq!(names(sql), ["real_one"]);
        assert_eq!(names("select 'it''s from here' from t -- join u"), ["t"]);
        assert_eq!(names("select 1 from t /* unclosed join x"), ["t"]);
    }

    #[test]
    fn quoted_identifiers_in_every_dialect() {
        assert_eq!(names(r#"select * from "My Schema"."Order ""Lines""" "#), [r#"My Schema.Order "Lines""#]);
        assert_eq!(names("select * from `proj.dataset.events` e join `other` o on 1=1"), ["proj.dataset.events", "other"]);
        assert_eq!(names("select * from [dbo].[Sales Orders]"), ["dbo.Sales Orders"]);
        let bq = scan("select * from `proj.dataset.events`");
        assert_eq!(bq.tables[0].schema(), Some("dataset"));
    }

    #[test]
    fn ctes_are_not_tables() {
        let sql = "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '7 days'), \
                   top(id, n) AS MATERIALIZED (SELECT user_id, count(*) FROM recent GROUP BY 1) \
                   SELECT * FROM top JOIN people ON people.id = top.id JOIN RECENT r ON r.user_id = top.id";
        assert_eq!(names(sql), ["orders", "people"]);
        assert_eq!(names("with recursive t as (select 1 union all select n+1 from t) select * from t"), Vec::<String>::new());
    }

    #[test]
    fn subqueries_give_their_inner_tables() {
        let sql = "select * from (select * from a join (select id from b) bb on true) sub, \
                   lateral (select * from c where c.x = sub.x) l where exists (select 1 from d)";
        assert_eq!(names(sql), ["a", "b", "c", "d"]);
        assert_eq!(names("select coalesce((select max(x) from m), 0) from n"), ["m", "n"]);
    }

    #[test]
    fn from_inside_calls_and_distinct_from_are_not_tables() {
        let sql = "select extract(year from created_at), substring(name from 2 for 3), trim(both ' ' from x), \
                   a is distinct from b from events";
        assert_eq!(names(sql), ["events"]);
        assert_eq!(names("select * from generate_series(1, 10) g join t on true"), ["t"]);
        assert_eq!(names("select * from unnest(array[1,2]) as u(x)"), Vec::<String>::new());
    }

    #[test]
    fn metabase_template_syntax() {
        let sql = "select * from {{#12-orders-model}} o join products p on p.id = o.pid \
                   where {{snippet: Active Users}} [[and o.created_at > {{since}}]] [[and o.x = {{#7}}]]";
        let found = scan(sql);
        assert_eq!(found.cards, [12, 7]);
        assert_eq!(found.snippets, ["Active Users"]);
        assert_eq!(names(sql), ["products"]);
        assert_eq!(names("select * from t [[where a = {{a}}]] [[join u on true]]"), ["t", "u"]);
    }

    #[test]
    fn each_table_once_in_first_order() {
        assert_eq!(names("select * from a join b on 1=1 union all select * from b join a on 1=1"), ["a", "b"]);
        let found = scan("select * from a join a on true");
        assert_eq!(found.tables.len(), 1);
        assert_eq!(found.tables[0].clause, Clause::From);
    }

    #[test]
    fn odd_input_gives_what_it_can() {
        assert_eq!(scan(""), Found::default());
        assert_eq!(names("from"), Vec::<String>::new());
        assert_eq!(names("select * from"), Vec::<String>::new());
        assert_eq!(names("select * from \"unclosed"), ["unclosed"]);
        assert_eq!(names("select * from t where x = 'unclosed"), ["t"]);
        assert_eq!(names("select * from ((((a"), ["a"]);
        assert_eq!(names("select * from (a join (b join c on true) on true) join d on true"), ["a", "b", "c", "d"]);
        assert_eq!(names("select * from (values (1), (2)) v"), Vec::<String>::new());
        assert_eq!(names("select * from a)))) join b"), ["a", "b"]);
        assert_eq!(names("select * from schéma.tablé ü"), ["schéma.tablé"]);
        assert_eq!(names("select $1 from t; select * from u;"), ["t", "u"]);
        assert_eq!(names("{{"), Vec::<String>::new());
        assert_eq!(names("select * from x.{{y}}"), Vec::<String>::new());
    }

    #[test]
    fn dml_and_insert_select() {
        assert_eq!(names("insert into target select * from source_t"), ["source_t"]);
        assert_eq!(names("delete from old_rows where id in (select id from keep)"), ["old_rows", "keep"]);
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        /// Pieces of SQL and Metabase syntax, so that random sequences reach deep into the rules.
        const PIECES: &[&str] = &[
            "select ", "from ", "join ", "with ", " as ", "(", ")", ",", ".", ";", "'", "\"", "`", "[", "]", "[[", "]]",
            "{{", "}}", "{{#", "{{snippet:", "--", "\n", "/*", "*/", "$", "$$", "$t$", "t", "s", "é", "🙂", " ", "distinct ",
            "extract(", "lateral ", "recursive ", "materialized ", "1", "where ", "union ", "#",
        ];

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn on_any_text(s in ".{0,200}") {
                let found = scan(&s);
                for t in &found.tables {
                    prop_assert!(!t.parts.is_empty());
                }
            }

            #[test]
            fn on_sql_like_soup(pieces in proptest::collection::vec(0..PIECES.len(), 0..80)) {
                let s: String = pieces.iter().map(|&i| PIECES[i]).collect();
                let found = scan(&s);
                // Each table once.
                for (i, a) in found.tables.iter().enumerate() {
                    prop_assert!(found.tables[i + 1..].iter().all(|b| b.parts != a.parts));
                }
            }

            #[test]
            fn on_any_bytes_as_lossy_text(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = scan(&String::from_utf8_lossy(&bytes));
            }
        }
    }
}
