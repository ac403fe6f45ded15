//! Lines read within a bound, so that an input without line breaks cannot exhaust memory.

use std::io::{self, BufRead};

/// Outcome of [`read_line_bounded`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line (without its terminator) is in the buffer.
    Ok,
    /// The line was longer than the limit; it was consumed and the buffer is empty.
    TooLong,
    /// End of input.
    Eof,
}

/// Reads one line into `buf` without ever holding more than `max` bytes of it, so an
/// input without line breaks cannot exhaust memory. Strips `\n` and `\r\n`.
pub fn read_line_bounded(reader: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (i, i + 1),
            None => (available.len(), available.len()),
        };
        if !too_long {
            buf.extend_from_slice(&available[..take]);
            if buf.len() > max {
                too_long = true;
                buf.clear();
            }
        }
        let found_newline = take < done;
        reader.consume(done);
        if found_newline {
            break;
        }
    }
    if too_long {
        return Ok(Line::TooLong);
    }
    if !any {
        return Ok(Line::Eof);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Line::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn bounded_lines() {
        let mut r = Cursor::new(b"ab\r\n\nccccccc\nd".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Line::Ok);
        assert_eq!(buf, b"ab");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Line::Ok);
        assert_eq!(buf, b"");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Line::TooLong);
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Line::Ok);
        assert_eq!(buf, b"d");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Line::Eof);
    }
}
