//! Kafka's rule for topic names, so a bad name is refused by `validate` before any broker refuses it.

/// The longest topic name a broker accepts (Kafka's `Topic.MAX_NAME_LENGTH`).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Why `name` cannot be a topic's name, if it cannot: brokers take ASCII letters, digits, `.`, `_` and `-`, at
/// most 249 of them, and neither `.` nor `..`.
pub fn topic_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a topic name cannot be empty".into());
    }
    if name == "." || name == ".." {
        return Some(format!("`{name}` cannot be a topic name"));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Some(format!(
            "a topic name has at most {MAX_TOPIC_NAME_LEN} characters; this one has {}",
            name.chars().count()
        ));
    }
    let mut bad: Vec<char> = Vec::new();
    for c in name.chars() {
        let allowed = c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if !allowed && !bad.contains(&c) && bad.len() < 5 {
            bad.push(c);
        }
    }
    if !bad.is_empty() {
        let shown: Vec<String> = bad.iter().map(|c| format!("{c:?}")).collect();
        return Some(format!(
            "`{}` is not a valid topic name: it holds {}; Kafka allows only ASCII letters, digits, '.', '_' and '-'",
            name.chars().take(MAX_TOPIC_NAME_LEN).collect::<String>(),
            shown.join(", ")
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_rule() {
        for good in ["orders", "orders.v1", "orders_v1", "a-b", &"x".repeat(249)] {
            assert_eq!(topic_name_problem(good), None, "{good}");
        }
        for bad in ["", ".", "..", "has space", "a/b", "ünï", &"x".repeat(250)] {
            assert!(topic_name_problem(bad).is_some(), "{bad}");
        }
        let message = topic_name_problem("bad topic/name").unwrap();
        assert!(message.contains("holds ' ', '/';"), "{message}");
        let message = topic_name_problem("a b c").unwrap();
        assert!(message.contains("holds ' ';"), "{message}");
    }
}
