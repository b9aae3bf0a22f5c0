//! "Did you mean": the known key closest to a misspelt one, by a banded edit distance whose cost is bounded
//! whatever the length of the name given.

/// The most edits a suggestion may be from the name it corrects: a cap on the usual third of the known key's
/// length, which also bounds the work one comparison can take (see [`EditRows::distance_within`]).
const MAX_SUGGESTION_EDITS: usize = 12;

/// The known key closest to `key` by edit distance, if it is close enough to be a likely typo: within a third of
/// the known key's length (at least 2, at most [`MAX_SUGGESTION_EDITS`] edits).
///
/// Costs at most a band of `2 × limit + 1` cells per character of the shorter name for each known key, so an
/// unknown key of any length (a hostile config's megabyte key) is compared in time linear in it.
pub fn closest(key: &str, known: &[&str]) -> Option<String> {
    let mut rows = EditRows::default();
    known
        .iter()
        .filter_map(|k| {
            let limit = (k.len() / 3).clamp(2, MAX_SUGGESTION_EDITS);
            rows.distance_within(key, k, limit).map(|d| (d, *k))
        })
        .min()
        .map(|(_, k)| k.to_owned())
}

/// The buffers of an edit distance computation, kept from one comparison to the next.
#[derive(Default)]
struct EditRows {
    b: Vec<char>,
    previous: Vec<usize>,
    current: Vec<usize>,
}

impl EditRows {
    /// The edit distance from `a` to `b` in characters, if it is at most `limit`.
    ///
    /// Only cells within `limit` of the diagonal can hold a distance within the limit, so only those are
    /// computed, and the computation stops at the first row where every cell is already past the limit.
    fn distance_within(&mut self, a: &str, b: &str, limit: usize) -> Option<usize> {
        let b_len = b.chars().count();
        // Counting stops one character past the longest `a` that can still be within the limit.
        let a_len = a.chars().take(b_len + limit + 1).count();
        if a_len.abs_diff(b_len) > limit {
            return None;
        }
        self.b.clear();
        self.b.extend(b.chars());
        let b = &self.b;
        // Every cell holds its distance, or `beyond` for any distance past the limit.
        let beyond = limit + 1;
        let (previous, current) = (&mut self.previous, &mut self.current);
        previous.clear();
        previous.extend((0..=b_len).map(|j| j.min(beyond)));
        current.clear();
        current.resize(b_len + 1, beyond);
        for (i, ca) in a.chars().enumerate() {
            let row = i + 1;
            let first = row.saturating_sub(limit).max(1);
            let last = (row + limit).min(b_len);
            // The cell left of the band: all of `a` so far deleted in column 0, else too far from the diagonal.
            current[first - 1] = if first == 1 { row.min(beyond) } else { beyond };
            let mut row_min = current[first - 1];
            for j in first..=last {
                let substitute = previous[j - 1] + usize::from(ca != b[j - 1]);
                let cell = substitute
                    .min(previous[j] + 1)
                    .min(current[j - 1] + 1)
                    .min(beyond);
                current[j] = cell;
                row_min = row_min.min(cell);
            }
            // The next row reads one cell right of this band: it is too far from the diagonal.
            if last < b_len {
                current[last + 1] = beyond;
            }
            #[cfg(test)]
            edit_distance_cells::add((last + 1).saturating_sub(first));
            if row_min > limit {
                return None;
            }
            std::mem::swap(previous, current);
        }
        let distance = previous[b_len];
        (distance <= limit).then_some(distance)
    }
}

/// How many cells [`EditRows::distance_within`] computed on this thread, so tests can bound its work.
#[cfg(test)]
mod edit_distance_cells {
    use std::cell::Cell;

    thread_local! {
        static CELLS: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn add(cells: usize) {
        CELLS.with(|count| count.set(count.get() + cells));
    }

    /// Runs `f` and returns how many cells it computed.
    pub(super) fn counted(f: impl FnOnce()) -> usize {
        CELLS.with(|count| count.set(0));
        f();
        CELLS.with(Cell::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_edit_distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut previous: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut current = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let substitute = previous[j] + usize::from(ca != *cb);
                current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
            }
            previous = current;
        }
        previous[b.len()]
    }

    #[test]
    fn banded_edit_distance_agrees_with_the_full_one_within_the_limit() {
        let words = [
            "",
            "a",
            "ab",
            "ba",
            "abc",
            "linger.ms",
            "linger.sm",
            "lingerms",
            "linger.ms.x",
            "batch.size",
            "batchsize",
            "acks",
            "ack",
            "äcks",
            "bootstrap.servers",
            "bootstrap.server",
            "xbootstrap.servers",
            "aaaaaaaaaaaa",
            "aaaaaaaaaaab",
            "baaaaaaaaaaa",
            "aaaaaa",
            "transactional.id",
        ];
        // One set of rows for every comparison, as `closest` reuses them: nothing left from one may leak into
        // the next.
        let mut rows = EditRows::default();
        for a in words {
            for b in words {
                for limit in 0..6 {
                    let full = full_edit_distance(a, b);
                    let expected = (full <= limit).then_some(full);
                    assert_eq!(
                        rows.distance_within(a, b, limit),
                        expected,
                        "{a:?} {b:?} {limit}"
                    );
                }
            }
        }
    }

    #[test]
    fn suggesting_for_a_huge_key_compares_no_characters() {
        // A fuzzed .properties file with one 4 KB unknown key took a second: every client probe compared it
        // with every known key, cell by cell. A key far longer than every known key needs no comparison.
        let known = [
            crate::client::config::ProducerConfig::known_keys(),
            crate::client::config::ConsumerConfig::known_keys(),
        ]
        .concat();
        let huge = "x".repeat(1 << 20);
        let cells = edit_distance_cells::counted(|| assert_eq!(closest(&huge, &known), None));
        assert_eq!(cells, 0);
    }

    #[test]
    fn suggesting_costs_a_band_per_character_whatever_the_lengths() {
        // Two long names of about the same length: the full table would be 10^4 × 10^4 cells; the band is at most
        // 2 × 12 + 1 cells per row, and rows stop once every cell is past the limit.
        let long_key = "a".repeat(10_000);
        let long_typo = format!("{}b", "a".repeat(9_999));
        let cells = edit_distance_cells::counted(|| {
            assert_eq!(
                closest(&long_typo, &[long_key.as_str()]),
                Some(long_key.clone())
            );
        });
        assert!(
            cells <= 10_000 * (2 * MAX_SUGGESTION_EDITS + 1),
            "{cells} cells"
        );
        let unrelated = "b".repeat(10_000);
        let cells = edit_distance_cells::counted(|| {
            assert_eq!(closest(&unrelated, &[long_key.as_str()]), None);
        });
        assert!(
            cells <= (MAX_SUGGESTION_EDITS + 1) * (2 * MAX_SUGGESTION_EDITS + 1),
            "{cells} cells"
        );
    }
}
