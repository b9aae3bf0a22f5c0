//! A UTF-8 string that is either a slice of a shared `Bytes` buffer (cloning shares it) or, when short, kept
//! inline (cloning copies a few bytes — cheaper than the buffer's atomic reference count).

use bytes::Bytes;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Strings up to this many bytes are stored inline.
pub const INLINE_CAPACITY: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE_CAPACITY] },
    Shared(Bytes),
}

/// Immutable UTF-8 text: inline when short, else in a shared buffer (often a slice of the record it was
/// decoded from).
#[derive(Clone)]
pub struct Str(Repr);

impl Default for Str {
    fn default() -> Self {
        Str::from_static("")
    }
}

impl Str {
    pub const fn from_static(s: &'static str) -> Self {
        Str(Repr::Shared(Bytes::from_static(s.as_bytes())))
    }

    /// Wraps `bytes` (sharing them, however short) after checking they are UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Str(Repr::Shared(bytes)))
    }

    /// Wraps `bytes` when they are UTF-8 (checked once); otherwise a copy with each invalid sequence replaced
    /// by U+FFFD, as Java's decoders do.
    pub fn from_utf8_lossy(bytes: Bytes) -> Self {
        if std::str::from_utf8(&bytes).is_ok() {
            Str(Repr::Shared(bytes))
        } else {
            Str::from(String::from_utf8_lossy(&bytes).as_ref())
        }
    }

    fn inline(s: &str) -> Option<Self> {
        let len = s.len();
        if len > INLINE_CAPACITY {
            return None;
        }
        let mut buf = [0u8; INLINE_CAPACITY];
        buf[..len].copy_from_slice(s.as_bytes());
        Some(Str(Repr::Inline {
            len: len as u8,
            buf,
        }))
    }

    /// `bytes` copied inline when they fit and are ASCII (so UTF-8); `None` otherwise. Cheaper than
    /// `str::from_utf8` on short text: three word tests instead of a walk byte by byte.
    pub fn inline_ascii(bytes: &[u8]) -> Option<Self> {
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let len = bytes.len();
        if len > INLINE_CAPACITY {
            return None;
        }
        let mut padded = [0u8; 24];
        padded[..len].copy_from_slice(bytes);
        let high_bits = padded.chunks_exact(8).fold(0u64, |acc, word| {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            acc | u64::from_le_bytes(w)
        }) & HIGHS;
        if high_bits != 0 {
            return None;
        }
        let mut buf = [0u8; INLINE_CAPACITY];
        buf.copy_from_slice(&padded[..INLINE_CAPACITY]);
        Some(Str(Repr::Inline {
            len: len as u8,
            buf,
        }))
    }

    /// `text`, inline when short; otherwise `bytes` shared when they are exactly the UTF-8 of `text`, else a
    /// copy of `text`.
    pub fn share_if_equal(bytes: Bytes, text: &str) -> Self {
        if let Some(s) = Str::inline(text) {
            return s;
        }
        if bytes[..] == *text.as_bytes() {
            Str(Repr::Shared(bytes))
        } else {
            Str(Repr::Shared(Bytes::copy_from_slice(text.as_bytes())))
        }
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor checks or guarantees UTF-8 (`from_utf8` and `from_utf8_lossy` check; `from_static`, `inline`,
        // `From<String>`, `From<&str>` and `share_if_equal` copy or compare against a `&str`), and the bytes
        // are immutable.
        unsafe { std::str::from_utf8_unchecked(self.as_bytes()) }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..usize::from(*len)],
            Repr::Shared(b) => b,
        }
    }

    /// Whether the text lives in a shared buffer (rather than inline).
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Repr::Shared(_))
    }

    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Shared(b) => b,
            Repr::Inline { .. } => Bytes::copy_from_slice(self.as_bytes()),
        }
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str::inline(&s).unwrap_or_else(|| Str(Repr::Shared(Bytes::from(s))))
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        Str::inline(s).unwrap_or_else(|| Str(Repr::Shared(Bytes::copy_from_slice(s.as_bytes()))))
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_are_inline_long_ones_share() {
        let long = Bytes::from_static(b"a string longer than the inline capacity");
        let s = Str::share_if_equal(long.clone(), std::str::from_utf8(&long).unwrap());
        assert!(s.is_shared());
        assert_eq!(s.as_bytes().as_ptr(), long.as_ptr());
        let short = Str::share_if_equal(Bytes::from_static(b"abc"), "abc");
        assert!(!short.is_shared());
        assert_eq!(short, Str::from_static("abc"));
        assert_eq!(
            Str::share_if_equal(Bytes::from_static(b"a\\nb"), "a\nb"),
            "a\nb"
        );
    }

    #[test]
    fn inline_ascii_takes_short_ascii_only() {
        assert_eq!(Str::inline_ascii(b"Oslo").unwrap(), "Oslo");
        assert_eq!(Str::inline_ascii(b"").unwrap(), "");
        let longest = [b'x'; INLINE_CAPACITY];
        assert_eq!(
            Str::inline_ascii(&longest).unwrap().as_bytes(),
            &longest[..]
        );
        assert!(Str::inline_ascii(&[b'x'; INLINE_CAPACITY + 1]).is_none());
        // UTF-8 that is not ASCII, and bytes that are not UTF-8 at all, at every word of the buffer.
        assert!(Str::inline_ascii("Kyïv".as_bytes()).is_none());
        for at in 0..INLINE_CAPACITY {
            let mut bytes = [b'a'; INLINE_CAPACITY];
            bytes[at] = 0xff;
            assert!(Str::inline_ascii(&bytes).is_none(), "high byte at {at}");
        }
    }
}
