//! Bencode, the encoding of `.torrent` files: a writer that gives the canonical form (sorted
//! keys), and a reader that keeps the raw bytes of the `info` dictionary, since its sha1 is the
//! info-hash and re-encoding a foreign file could change it.

use std::collections::BTreeMap;

/// A bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `i<n>e`
    Int(i64),
    /// `<len>:<bytes>`
    Bytes(Vec<u8>),
    /// `l...e`
    List(Vec<Value>),
    /// `d...e`, keys sorted as raw bytes (BEP 3).
    Dict(BTreeMap<Vec<u8>, Value>),
}

impl Value {
    /// A byte string from text.
    pub fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => {
                out.extend_from_slice(b.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(b);
            }
            Value::List(items) => {
                out.push(b'l');
                for v in items {
                    v.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(map) => {
                out.push(b'd');
                for (k, v) in map {
                    Value::Bytes(k.clone()).encode_into(out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The entry `key` of a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(m) => m.get(key.as_bytes()),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text, if this is a UTF-8 byte string.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
}

/// Why bytes are not bencode.
#[derive(Debug, thiserror::Error)]
#[error("not bencode at byte {at}: {what}")]
pub struct DecodeError {
    /// Offset of the problem.
    pub at: usize,
    /// What was wrong.
    pub what: &'static str,
}

/// Nesting deeper than this is refused (a hostile file could otherwise exhaust the stack).
const MAX_DEPTH: usize = 64;

/// A decoded top-level value, with the raw bytes of its `info` entry if it is a dictionary
/// that has one.
#[derive(Debug)]
pub struct Decoded<'a> {
    /// The value.
    pub value: Value,
    /// `info`'s bytes exactly as they appear in the input.
    pub raw_info: Option<&'a [u8]>,
}

/// Decodes one value that must span all of `data`.
pub fn decode(data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let mut p = Parser { data, pos: 0, raw_info: None };
    let value = p.value(0)?;
    if p.pos != data.len() {
        return Err(p.err("trailing bytes after the value"));
    }
    let raw_info = p.raw_info.map(|(a, b)| &data[a..b]);
    Ok(Decoded { value, raw_info })
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    raw_info: Option<(usize, usize)>,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError { at: self.pos, what }
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        self.data.get(self.pos).copied().ok_or_else(|| self.err("unexpected end"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        match self.peek()? {
            b'i' => {
                self.pos += 1;
                let n = self.digits(b'e', true)?;
                Ok(Value::Int(n))
            }
            b'l' => {
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                self.pos += 1;
                let mut map = BTreeMap::new();
                let mut last: Option<Vec<u8>> = None;
                while self.peek()? != b'e' {
                    let key = self.bytes()?;
                    if last.as_ref().is_some_and(|l| *l >= key) {
                        return Err(self.err("dictionary keys not sorted or repeated"));
                    }
                    let start = self.pos;
                    let v = self.value(depth + 1)?;
                    if depth == 0 && key == b"info" {
                        self.raw_info = Some((start, self.pos));
                    }
                    last = Some(key.clone());
                    map.insert(key, v);
                }
                self.pos += 1;
                Ok(Value::Dict(map))
            }
            b'0'..=b'9' => Ok(Value::Bytes(self.bytes()?)),
            _ => Err(self.err("unknown type")),
        }
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.digits(b':', false)?;
        let len = usize::try_from(len).map_err(|_| self.err("bad length"))?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.data.len()).ok_or_else(|| self.err("string runs past the end"))?;
        let out = self.data[self.pos..end].to_vec();
        self.pos = end;
        Ok(out)
    }

    fn digits(&mut self, end: u8, signed: bool) -> Result<i64, DecodeError> {
        let start = self.pos;
        let stop = self.data[start..].iter().position(|&b| b == end).ok_or_else(|| self.err("unterminated number"))? + start;
        let text = std::str::from_utf8(&self.data[start..stop]).map_err(|_| self.err("bad number"))?;
        // Canonical only: no sign where none is allowed, no leading zeros, no "-0".
        let digits = text.strip_prefix('-').filter(|_| signed).unwrap_or(text);
        let canonical = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0')) && !(digits == "0" && text.starts_with('-'));
        let n: i64 = text.parse().ok().filter(|_| canonical).ok_or_else(|| self.err("bad number"))?;
        self.pos = stop + 1;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_raw_info() {
        let mut info = BTreeMap::new();
        info.insert(b"name".to_vec(), Value::str("x"));
        info.insert(b"length".to_vec(), Value::Int(3));
        let mut top = BTreeMap::new();
        top.insert(b"announce".to_vec(), Value::str("http://127.0.0.1/a"));
        top.insert(b"info".to_vec(), Value::Dict(info.clone()));
        let bytes = Value::Dict(top).encode();
        let d = decode(&bytes).unwrap();
        assert_eq!(d.raw_info.unwrap(), Value::Dict(info).encode().as_slice());
        assert_eq!(d.value.encode(), bytes);
    }

    #[test]
    fn hostile_input_is_an_error() {
        for bad in [&b""[..], b"i01e", b"i-0e", b"ie", b"5:ab", b"d1:a", b"d1:bi1e1:ai1ee", b"x", b"i1ei2e", b"99999999999999999999:"] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "l".repeat(10_000) + &"e".repeat(10_000);
        assert!(decode(deep.as_bytes()).unwrap_err().what.contains("deep"));
    }
}
