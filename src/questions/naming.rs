//! Stable stream names for saved questions.

/// Every question stream name starts with this.
pub const PREFIX: &str = "question_";

/// `question_<id>_<slug>`: the id keeps it unique and stable when the card is
/// renamed only in the slug; the slug makes it readable.
pub fn stream_name(id: i64, name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
    }
    let slug: String = slug.trim_end_matches('_').chars().take(60).collect();
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        format!("{PREFIX}{id}")
    } else {
        format!("{PREFIX}{id}_{slug}")
    }
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
}
