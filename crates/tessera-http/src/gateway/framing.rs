//! Where an upstream response's body ends (RFC 9112 §6.3), and the chunked coding
//! (§7.1) decoded as bytes arrive. No IO here: `client.rs` feeds the bytes it reads.

use axum::http::header::{self, HeaderMap};
use bytes::{Buf, Bytes, BytesMut};

/// Longest chunk-size line or trailer line accepted, bytes.
const MAX_LINE: usize = 4096;
/// Most trailer fields accepted (they are read and dropped).
const MAX_TRAILERS: usize = 100;

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: a `HEAD` request's answer, `1xx`, `204` or `304` (§6.3 rule 1).
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Everything until the upstream closes the connection (§6.3 rule 8).
    UntilClose,
}

/// The framing of a response with `status` to a request (`head`: it was a `HEAD`), or why
/// the response cannot be framed safely (a proxy must not guess, §6.3 rules 4 and 5).
pub fn response_framing(head: bool, status: u16, headers: &HeaderMap) -> Result<Framing, String> {
    if head || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        // Rule 4: chunked must be the final coding, else the body runs to the close.
        let last = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|coding| !coding.is_empty());
        return Ok(match last {
            Some(coding) if coding.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => Framing::UntilClose,
        });
    }
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        // Rule 5: a list of identical values is one length; anything else is an error.
        for part in value.as_bytes().split(|b| *b == b',') {
            let n = parse_decimal(trim(part))
                .ok_or_else(|| "the upstream sent an invalid Content-Length".to_owned())?;
            if length.is_some_and(|l| l != n) {
                return Err("the upstream sent conflicting Content-Length values".into());
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != b' ' && *b != b'\t');
    let end = bytes.iter().rposition(|b| *b != b' ' && *b != b'\t');
    match (start, end) {
        (Some(s), Some(e)) => &bytes[s..=e],
        _ => &[],
    }
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// What the chunked decoder made of the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Body bytes, taken from the front of the buffer.
    Data(Bytes),
    /// The buffer ends inside framing: read more and call again.
    NeedMore,
    /// The last chunk and the trailers have been read; what follows is not this body's.
    End,
}

/// Decodes the chunked coding from the front of a buffer, one step at a time.
#[derive(Debug, Default)]
pub struct Chunked {
    state: State,
    trailers: usize,
}

#[derive(Debug, Default, Clone, Copy)]
enum State {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    End,
}

impl Chunked {
    /// The next step of decoding `buf`, whose consumed bytes are removed from it.
    pub fn step(&mut self, buf: &mut BytesMut) -> Result<Step, String> {
        loop {
            match self.state {
                State::End => return Ok(Step::End),
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let rest = left - take as u64;
                    self.state = if rest == 0 {
                        State::DataEnd
                    } else {
                        State::Data(rest)
                    };
                    return Ok(Step::Data(buf.split_to(take).freeze()));
                }
                State::DataEnd => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::NeedMore);
                    };
                    if !line.is_empty() {
                        return Err("a chunk's data is longer than its size".into());
                    }
                    self.state = State::Size;
                }
                State::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::NeedMore);
                    };
                    let size = chunk_size(&line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Step::NeedMore);
                    };
                    if line.is_empty() {
                        self.state = State::End;
                    } else {
                        self.trailers += 1;
                        if self.trailers > MAX_TRAILERS {
                            return Err("too many trailer fields".into());
                        }
                    }
                }
            }
        }
    }
}

/// One CRLF-terminated line from the front of `buf`, without its CRLF; `None` until the
/// whole line is there.
fn take_line(buf: &mut BytesMut) -> Result<Option<Bytes>, String> {
    let Some(lf) = buf.iter().position(|b| *b == b'\n') else {
        if buf.len() > MAX_LINE {
            return Err("a chunk-size or trailer line is too long".into());
        }
        return Ok(None);
    };
    if lf == 0 || buf[lf - 1] != b'\r' {
        return Err("a line of the chunked coding does not end with CRLF".into());
    }
    let line = buf.split_to(lf - 1).freeze();
    buf.advance(2);
    Ok(Some(line))
}

/// `chunk-size [ chunk-ext ]`: hexadecimal digits, then extensions, which are ignored.
fn chunk_size(line: &[u8]) -> Result<u64, String> {
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let rest = &line[digits..];
    let ext_ok = rest.is_empty() || matches!(trim(rest).first(), Some(b';'));
    if digits == 0 || digits > 15 || !ext_ok {
        return Err("an invalid chunk size".into());
    }
    line[..digits].iter().try_fold(0u64, |n, d| {
        let v = char::from(*d).to_digit(16).map(u64::from);
        v.map(|v| n * 16 + v)
            .ok_or_else(|| "an invalid chunk size".to_owned())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::gateway::test_headers as headers;

    #[test]
    fn framing_follows_rfc_9112_section_6_3() {
        let cl = headers(&[("content-length", "89")]);
        assert_eq!(response_framing(false, 200, &cl), Ok(Framing::Length(89)));
        assert_eq!(response_framing(true, 200, &cl), Ok(Framing::None));
        assert_eq!(response_framing(false, 204, &cl), Ok(Framing::None));
        assert_eq!(response_framing(false, 304, &cl), Ok(Framing::None));
        let both = headers(&[("content-length", "5"), ("transfer-encoding", "chunked")]);
        assert_eq!(response_framing(false, 200, &both), Ok(Framing::Chunked));
        let gzip_last = headers(&[("transfer-encoding", "chunked, gzip")]);
        assert_eq!(
            response_framing(false, 200, &gzip_last),
            Ok(Framing::UntilClose)
        );
        let same = headers(&[("content-length", "7, 7"), ("content-length", "7")]);
        assert_eq!(response_framing(false, 200, &same), Ok(Framing::Length(7)));
        for bad in ["7, 8", "-1", "+5", "0x10", "", "99999999999999999999"] {
            let h = headers(&[("content-length", bad)]);
            assert!(response_framing(false, 200, &h).is_err(), "{bad:?}");
        }
        assert_eq!(
            response_framing(false, 200, &HeaderMap::new()),
            Ok(Framing::UntilClose)
        );
    }

    /// Feeds `wire` to a decoder `split` bytes at a time; the body and what was left over.
    fn decode(wire: &[u8], split: usize) -> Result<(Vec<u8>, Vec<u8>), String> {
        let mut dec = Chunked::default();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            match dec.step(&mut buf)? {
                Step::Data(d) => body.extend_from_slice(&d),
                Step::End => return Ok((body, buf.to_vec())),
                Step::NeedMore => {
                    if fed == wire.len() {
                        return Err("ran out of input".into());
                    }
                    let end = (fed + split).min(wire.len());
                    buf.extend_from_slice(&wire[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_however_the_bytes_arrive() {
        let wire = b"5\r\nhello\r\n1;name=v\r\n \r\nA\r\n0123456789\r\n0\r\nx-sum: 1\r\n\r\nNEXT";
        for split in [1, 2, 3, 7, 64] {
            let (body, rest) = decode(wire, split).unwrap();
            assert_eq!(body, b"hello 0123456789", "split {split}");
            assert_eq!(rest, b"NEXT"[..rest.len()], "split {split}");
        }
    }

    #[test]
    fn malformed_chunked_bodies_are_errors() {
        for wire in [
            &b"5\r\nhelloX\r\n0\r\n\r\n"[..],
            b"g\r\n",
            b"\r\n",
            b"5 x\r\nhello\r\n",
            b"1000000000000000\r\n",
            b"5\nhello\r\n",
        ] {
            assert!(
                decode(wire, 64).is_err(),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        let long = vec![b'1'; MAX_LINE + 1];
        assert!(decode(&long, 64).is_err());
    }
}
