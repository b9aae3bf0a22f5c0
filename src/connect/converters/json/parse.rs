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
    pub fn parse(&mut self, input: &Bytes) -> Result<Value, ConvertError> {
        if input.is_empty() {
            return Err(ConvertError::InvalidJson {
                offset: 0,
                reason: "no JSON value (empty input)".to_owned(),
            });
        }
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
                };
                builder.value(0).map_err(BuildError::into_convert_error)
            });
        self.tape = Some(tape.reset());
        result
    }
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
    fn scalar(&self, node: Node<'i>) -> Option<Value> {
        Some(match node {
            Node::String(s) => Value::String(self.share(s)),
            Node::Static(StaticNode::I64(v)) => Value::Int64(v),
            // Beyond i64: Jackson's `longValue()` wraps the same way.
            Node::Static(StaticNode::U64(v)) => Value::Int64(v as i64),
            Node::Static(StaticNode::F64(v)) => Value::Float64(v),
            Node::Static(StaticNode::Bool(b)) => Value::Boolean(b),
            Node::Static(StaticNode::Null) => Value::Null,
            _ => return None,
        })
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
