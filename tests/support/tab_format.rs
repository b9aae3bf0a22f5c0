//! Reading `engine consume -f` / `kcat -f` output in the one format the tests print records with.

/// The `-f` format the tests use: one record per line, fields separated by tabs. Keys, values and headers in
/// the tests contain neither tabs, newlines nor commas.
pub const TAB_FORMAT: &str = "%t\t%p\t%o\t%T\t%k\t%h\t%s\n";

/// One line of `TAB_FORMAT` output. Our CLI (like kcat) prints a null key/value as empty.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FormattedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: String,
    /// `name=value` pairs in order.
    pub headers: Vec<(String, String)>,
    pub value: String,
}

/// Parses `TAB_FORMAT` lines, sorted by (partition, offset). kcat's `%h` is empty when there are no headers.
pub fn parse_tab_format(output: &str) -> Vec<FormattedRecord> {
    let mut records: Vec<FormattedRecord> = output
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.splitn(7, '\t').collect();
            assert_eq!(fields.len(), 7, "not a TAB_FORMAT line: {line:?}");
            FormattedRecord {
                topic: fields[0].to_string(),
                partition: fields[1]
                    .parse()
                    .unwrap_or_else(|_| panic!("partition in {line:?}")),
                offset: fields[2]
                    .parse()
                    .unwrap_or_else(|_| panic!("offset in {line:?}")),
                timestamp: fields[3]
                    .parse()
                    .unwrap_or_else(|_| panic!("timestamp in {line:?}")),
                key: fields[4].to_string(),
                headers: parse_headers(fields[5]),
                value: fields[6].to_string(),
            }
        })
        .collect();
    records.sort_by_key(|r| (r.partition, r.offset));
    records
}

/// `%h`: `name=value` pairs, comma-separated; empty for none.
pub fn parse_headers(field: &str) -> Vec<(String, String)> {
    if field.is_empty() {
        return Vec::new();
    }
    field
        .split(',')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_string(), value.to_string())
        })
        .collect()
}
