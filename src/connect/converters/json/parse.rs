//! simd-json in place: bytes → a JSON tree of `Value`s whose strings share the input buffer.

use crate::connect::converters::ConvertError;
use crate::connect::data::{Str, Value, STR_INLINE_CAPACITY as INLINE_CAPACITY};
use bytes::Bytes;
use simd_json::{Buffers, Node, StaticNode, Tape};

/// Deepest nesting accepted (Jackson's default limit is 1000; this keeps our recursion well inside the stack).
pub const MAX_DEPTH: usize = 512;

/// Reused between records: the mutable copy simd-json parses in place, its buffers, and the tape.
#[derive(Default)]
pub struct Parser {
    scratch: Vec<u8>,
    buffers: Buffers,
    tape: Option<Tape<'static>>,
}

impl Parser {
    /// The fast tree: numbers as `Int64`/`Float64`.
    pub fn parse(&mut self, input: &Bytes) -> Result<Value, ConvertError> {
        self.parse_with(input, false)
    }

    /// The exact tree: every number that is not an `i64` (fractions, exponents, integers beyond 64 bits) kept
    /// as its literal text in a `Value::Bytes` (JSON itself never makes bytes), for numeric Decimals.
    pub fn parse_literals(&mut self, input: &Bytes) -> Result<Value, ConvertError> {
        self.parse_with(input, true)
    }

    fn parse_with(&mut self, input: &Bytes, literals: bool) -> Result<Value, ConvertError> {
        if input.is_empty() {
            return Err(ConvertError::InvalidJson {
                offset: 0,
                reason: "no JSON value (empty input)".to_owned(),
            });
        }
        match self.parse_strict(input, literals) {
            Err(ConvertError::InvalidJson { offset, reason }) => {
                // Kafka's parser allows leading zeros in numbers (`0012`, JsonReadFeature
                // ALLOW_LEADING_ZEROS_FOR_NUMBERS); simd-json does not. Only on this error path: strip them and
                // try once more, reporting the first error if that fails too.
                match strip_leading_zeros(input) {
                    Some(stripped) => self
                        .parse_strict(&Bytes::from(stripped), literals)
                        .map_err(|_| ConvertError::InvalidJson { offset, reason }),
                    None => Err(ConvertError::InvalidJson { offset, reason }),
                }
            }
            other => other,
        }
    }

    fn parse_strict(&mut self, input: &Bytes, literals: bool) -> Result<Value, ConvertError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(input);
        let base = self.scratch.as_ptr() as usize;
        let mut tape = self.tape.take().unwrap_or_else(|| Tape(Vec::new())).reset();
        let result = simd_json::fill_tape(&mut self.scratch, &mut self.buffers, &mut tape)
            .map_err(|e| ConvertError::InvalidJson {
                offset: e.index(),
                reason: format!("{:?}", e.error()),
            })
            .and_then(|()| {
                let mut builder = TreeBuilder {
                    nodes: &tape.0,
                    next: 0,
                    input,
                    base,
                    numbers: if literals {
                        number_spans(input)
                    } else {
                        Vec::new()
                    },
                    next_number: 0,
                };
                builder.value(0).map_err(BuildError::into_convert_error)
            });
        self.tape = Some(tape.reset());
        result
    }
}

/// Byte ranges of the number tokens of (valid) JSON text, in document order: the order simd-json's tape holds
/// its number nodes in.
fn number_spans(input: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'"' => {
                i += 1;
                while i < input.len() {
                    match input[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < input.len()
                    && matches!(input[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                spans.push((start, i));
            }
            _ => i += 1,
        }
    }
    spans
}

/// `input` with leading zeros removed from its numbers (`0012` → `12`, `-007.5` → `-7.5`), or `None` when it
/// has none (then the input's error stands).
fn strip_leading_zeros(input: &[u8]) -> Option<Vec<u8>> {
    let spans = number_spans(input);
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for (start, end) in spans {
        let digits_start = if input[start] == b'-' {
            start + 1
        } else {
            start
        };
        let mut zeros_end = digits_start;
        while zeros_end + 1 < end
            && input[zeros_end] == b'0'
            && input[zeros_end + 1].is_ascii_digit()
        {
            zeros_end += 1;
        }
        if zeros_end > digits_start {
            let buf = out.get_or_insert_with(|| Vec::with_capacity(input.len()));
            buf.extend_from_slice(&input[copied..digits_start]);
            copied = zeros_end;
        }
    }
    let mut buf = out?;
    buf.extend_from_slice(&input[copied..]);
    Some(buf)
}

/// Kept small so the recursive builder's `Result` stays cheap to move; widened at the end.
#[derive(Debug, Clone, Copy)]
enum BuildError {
    TooDeep,
    Internal(&'static str),
}

impl BuildError {
    fn into_convert_error(self) -> ConvertError {
        match self {
            BuildError::TooDeep => ConvertError::InvalidJson {
                offset: 0,
                reason: format!("nested deeper than {MAX_DEPTH} levels"),
            },
            BuildError::Internal(what) => ConvertError::Internal(what),
        }
    }
}

struct TreeBuilder<'t, 'i> {
    nodes: &'t [Node<'i>],
    next: usize,
    input: &'t Bytes,
    base: usize,
    /// In literal mode, the input's number tokens; `next_number` counts the number nodes seen.
    numbers: Vec<(usize, usize)>,
    next_number: usize,
}

impl<'i> TreeBuilder<'_, 'i> {
    fn node(&mut self) -> Result<Node<'i>, BuildError> {
        let node = self
            .nodes
            .get(self.next)
            .copied()
            .ok_or(BuildError::Internal("simd-json tape ended early"))?;
        self.next += 1;
        Ok(node)
    }

    /// The input's bytes for a parsed string that needed no unescaping; a copy otherwise.
    fn share(&self, s: &str) -> Str {
        if s.len() <= INLINE_CAPACITY {
            // Copying a short string inline beats touching the buffer's reference count.
            return Str::from(s);
        }
        let offset = (s.as_ptr() as usize).wrapping_sub(self.base);
        match offset.checked_add(s.len()) {
            Some(end) if end <= self.input.len() => {
                Str::share_if_equal(self.input.slice(offset..end), s)
            }
            _ => Str::from(s),
        }
    }

    /// A scalar node's value; `None` for arrays and objects.
    #[inline(always)]
    fn scalar(&mut self, node: Node<'i>) -> Option<Value> {
        Some(match node {
            Node::String(s) => Value::String(self.share(s)),
            Node::Static(StaticNode::I64(v)) => {
                self.next_number += 1;
                Value::Int64(v)
            }
            Node::Static(StaticNode::U64(v)) => match self.literal() {
                Some(text) => text,
                // Beyond i64: Jackson's `longValue()` wraps the same way.
                None => Value::Int64(v as i64),
            },
            Node::Static(StaticNode::F64(v)) => match self.literal() {
                Some(text) => text,
                None => Value::Float64(v),
            },
            Node::Static(StaticNode::Bool(b)) => Value::Boolean(b),
            Node::Static(StaticNode::Null) => Value::Null,
            _ => return None,
        })
    }

    /// In literal mode, the text of the number node just seen.
    fn literal(&mut self) -> Option<Value> {
        let at = self.next_number;
        self.next_number += 1;
        let &(start, end) = self.numbers.get(at)?;
        Some(Value::Bytes(self.input.slice(start..end)))
    }

    /// The next value; scalars are built in the caller's frame, containers recurse.
    #[inline(always)]
    fn child(&mut self, depth: usize) -> Result<Value, BuildError> {
        let node = self.node()?;
        match self.scalar(node) {
            Some(v) => Ok(v),
            None => self.container(node, depth + 1),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, BuildError> {
        self.child(depth.saturating_sub(1))
    }

    fn container(&mut self, node: Node<'i>, depth: usize) -> Result<Value, BuildError> {
        if depth > MAX_DEPTH {
            return Err(BuildError::TooDeep);
        }
        Ok(match node {
            Node::Array { len, .. } => {
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.child(depth)?);
                }
                Value::Array(items)
            }
            Node::Object { len, .. } => {
                // One spare slot: a transform adding a field (InsertField) then does not reallocate.
                let mut entries = Vec::with_capacity(len + 1);
                for _ in 0..len {
                    let key = match self.node()? {
                        Node::String(k) => Value::String(self.share(k)),
                        _ => return Err(BuildError::Internal("object key is not a string")),
                    };
                    let value = self.child(depth)?;
                    entries.push((key, value));
                }
                Value::Map(entries)
            }
            _ => return Err(BuildError::Internal("unsupported simd-json node")),
        })
    }
}
