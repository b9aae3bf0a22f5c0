//! Reads the Prometheus text exposition format (what `/metrics` serves) into samples, for `engine status`.
//!
//! Only the sample lines matter here: `# HELP` / `# TYPE` comments are skipped, an optional timestamp after the
//! value is ignored, and a line that does not parse is an error naming it.

/// One sample: a metric name, its labels in order, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A line of the exposition that is not a sample.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("/metrics line {line}: {problem}: {text:?}")]
pub struct ParseError {
    pub line: usize,
    pub problem: &'static str,
    pub text: String,
}

/// Every sample of `text`, in order.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut samples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |problem| ParseError {
            line: index + 1,
            problem,
            text: line.chars().take(200).collect(),
        };
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or_else(|| error("no value"))?;
        let name = &line[..name_end];
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(inside) = rest.strip_prefix('{') {
            let (parsed, after) = parse_labels(inside).ok_or_else(|| error("bad labels"))?;
            labels = parsed;
            rest = after;
        }
        let value = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| error("no value"))?;
        let value = parse_value(value).ok_or_else(|| error("bad value"))?;
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(samples)
}

/// `key="value",...}` → the pairs and what follows the closing brace.
fn parse_labels(mut text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start_matches([' ', ',']);
        if let Some(after) = text.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after_key) = text.split_once('=')?;
        let mut chars = after_key.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.trim().to_owned(), value));
        text = &after_key[1 + end + 1..];
    }
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_and_without_labels_parse() {
        let text = "# HELP a_total An a\n# TYPE a_total counter\na_total{pipeline=\"x\\\"y\",task=\"0\"} 5\n\
                    process_open_fds 12 1700000000000\nq{quantile=\"0.99\"} NaN\nb_bucket{le=\"+Inf\"} +Inf\n";
        let samples = parse(text).unwrap();
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].name, "a_total");
        assert_eq!(samples[0].label("pipeline"), Some("x\"y"));
        assert_eq!(samples[0].label("task"), Some("0"));
        assert_eq!(samples[0].value, 5.0);
        assert_eq!(
            (samples[1].name.as_str(), samples[1].value),
            ("process_open_fds", 12.0)
        );
        assert!(samples[2].value.is_nan());
        assert_eq!(samples[3].label("le"), Some("+Inf"));
        assert!(samples[3].value.is_infinite());
    }

    #[test]
    fn a_broken_line_is_an_error_naming_it() {
        let error = parse("ok 1\nbroken{a=\"1\" 2\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(parse("novalue\n").is_err());
        assert!(parse("x{a=\"1\"} notanumber\n").is_err());
    }

    #[test]
    fn what_the_engine_renders_parses_back() {
        let metrics = std::sync::Arc::new(crate::engine::metrics::TaskMetrics::default());
        crate::engine::metrics::TaskMetrics::add(&metrics.records_written, 9);
        let text = crate::engine::metrics::render::render(&[("p,\"q\"".into(), 3, metrics)], &[]);
        let samples = parse(&text).unwrap();
        let written = samples
            .iter()
            .find(|s| s.name == "pipewright_records_written_total")
            .unwrap();
        assert_eq!(written.label("pipeline"), Some("p,\"q\""));
        assert_eq!(written.label("task"), Some("3"));
        assert_eq!(written.value, 9.0);
    }
}
