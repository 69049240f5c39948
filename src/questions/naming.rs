//! Stable stream names for saved questions and user queries.
//!
//! - `question_<id>_<slug>`: a saved question as it is (the slug of its name);
//! - `question_<id>__<name>`: a `question_streams` entry with a `name` (the
//!   double underscore never occurs in a slug, so such a name never meets a
//!   card's own, whatever the card is called);
//! - `query_<name>`: a `query_streams` entry.

/// Every question stream name starts with this.
pub const PREFIX: &str = "question_";
/// Every user-query stream name starts with this.
pub const QUERY_PREFIX: &str = "query_";

/// Lower-case ASCII letters and digits, runs of anything else as one `_`,
/// at most 60 characters; empty when the name has no ASCII letter or digit.
pub fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
    }
    let slug: String = slug.trim_end_matches('_').chars().take(60).collect();
    slug.trim_end_matches('_').to_string()
}

/// `question_<id>_<slug>`: the id keeps it unique and stable when the card is
/// renamed only in the slug; the slug makes it readable.
pub fn stream_name(id: i64, name: &str) -> String {
    match slug(name) {
        s if s.is_empty() => format!("{PREFIX}{id}"),
        s => format!("{PREFIX}{id}_{s}"),
    }
}

/// `question_<id>__<slug of name>`: a configured question stream's own name,
/// independent of the card's (so renaming the card renames nothing).
pub fn named_stream(id: i64, name: &str) -> String {
    format!("{PREFIX}{id}__{}", slug(name))
}

/// `query_<slug of name>`.
pub fn query_stream(name: &str) -> String {
    format!("{QUERY_PREFIX}{}", slug(name))
}

/// The card id of a question stream's name.
pub fn stream_id(name: &str) -> Option<i64> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = &rest[digits.len()..];
    if digits.is_empty() || !(after.is_empty() || after.starts_with('_')) {
        return None;
    }
    digits.parse().ok().filter(|i| *i > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_are_stable_and_parse_back() {
        assert_eq!(stream_name(27, "Orders + Customers"), "question_27_orders_customers");
        assert_eq!(stream_name(3, "Коллекция"), "question_3");
        assert_eq!(stream_name(9, "Customer_lifetime_value over time"), "question_9_customer_lifetime_value_over_time");
        assert_eq!(stream_id("question_27_orders_customers"), Some(27));
        assert_eq!(stream_id("question_3"), Some(3));
        assert_eq!(stream_id("question_x"), None);
        assert_eq!(stream_id("question_27x"), None);
        assert_eq!(stream_id("cards"), None);
    }

    #[test]
    fn configured_names_never_meet_a_cards_own() {
        assert_eq!(named_stream(41, "Completed (EU)"), "question_41__completed_eu");
        assert_eq!(stream_id("question_41__completed_eu"), Some(41));
        // However a card is named, its own stream name has no double underscore.
        for name in ["__x", "a  b", "_completed_eu", "x__y"] {
            assert!(!stream_name(41, name).contains("__"), "{name}");
        }
        assert_eq!(query_stream("Big orders!"), "query_big_orders");
        assert_eq!(slug("¿?"), "");
    }
}
