//! The pieces of RFC 9110 §5.6 and RFC 9112 §7.1 grammar a chunked body is checked against.
//! Each function looks at one complete line (CRLF already removed) and says what is wrong in
//! the words [`BodyError::Chunk`](super::BodyError::Chunk) carries.

/// A chunk size has at most this many hex digits: 16 fill a `u64`, and a longer run of leading
/// zeros only serves to get past parsers that count digits differently.
const MAX_SIZE_DIGITS: usize = 16;

/// The size from a chunk-size line, `1*HEXDIG [ chunk-ext ]` and nothing else, and how many
/// bytes of the line its extensions take.
pub(super) fn chunk_size(line: &[u8]) -> Result<(u64, usize), &'static str> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err("chunk size is not a hexadecimal number");
    }
    if digits > MAX_SIZE_DIGITS {
        return Err("chunk size has more than 16 hex digits");
    }
    chunk_extensions(&line[digits..])?;
    let size = line[..digits].iter().fold(0, |size, &d| size << 4 | u64::from(hex_value(d)));
    Ok((size, line.len() - digits))
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

/// `*( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`, where a name is a token
/// and a value a token or a quoted string. Extensions are checked and ignored: none is defined,
/// and a lenient reading is where parsers in a chain start to disagree.
fn chunk_extensions(mut rest: &[u8]) -> Result<(), &'static str> {
    while !rest.is_empty() {
        rest = skip_bws(rest).strip_prefix(b";").ok_or("invalid characters after chunk size")?;
        rest = skip_bws(rest);
        let name = token_len(rest);
        if name == 0 {
            return Err("chunk extension without a name");
        }
        rest = &rest[name..];
        if let Some(value) = skip_bws(rest).strip_prefix(b"=") {
            let value = skip_bws(value);
            let len = if value.starts_with(b"\"") { quoted_string_len(value)? } else { token_len(value) };
            if len == 0 {
                return Err("chunk extension without a value after =");
            }
            rest = &value[len..];
        }
    }
    Ok(())
}

/// The length of the quoted string at the front of `text`, quotes included.
fn quoted_string_len(text: &[u8]) -> Result<usize, &'static str> {
    const BAD: &str = "invalid quoted string in chunk extension";
    let mut i = 1;
    while let Some(&b) = text.get(i) {
        match b {
            b'"' => return Ok(i + 1),
            b'\\' => match text.get(i + 1) {
                Some(&escaped) if is_field_char(escaped) => i += 2,
                _ => return Err(BAD),
            },
            _ if is_field_char(b) => i += 1,
            _ => return Err(BAD),
        }
    }
    Err(BAD)
}

/// A trailer field, loosely: `token ":" field-value` with no control characters but HTAB. Its
/// contents are discarded, so only what keeps the line unambiguous is checked.
pub(super) fn trailer_field(line: &[u8]) -> Result<(), &'static str> {
    let name = token_len(line);
    match line.get(name) {
        Some(b':') if name > 0 => {}
        _ => return Err("trailer field is not name: value"),
    }
    if !line[name + 1..].iter().all(|&b| is_field_char(b)) {
        return Err("control character in trailer field");
    }
    Ok(())
}

/// HTAB, SP, VCHAR or obs-text: what a field value or a quoted string may hold.
fn is_field_char(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// The length of the token (RFC 9110 §5.6.2) at the front of `text`.
pub(super) fn token_len(text: &[u8]) -> usize {
    text.iter().take_while(|&&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)).count()
}

/// BWS and OWS: spaces and tabs.
fn skip_bws(text: &[u8]) -> &[u8] {
    let n = text.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &text[n..]
}

/// `text` without OWS on either side.
pub(super) fn trim_ows(text: &[u8]) -> &[u8] {
    let text = skip_bws(text);
    let n = text.iter().rev().take_while(|&&b| b == b' ' || b == b'\t').count();
    &text[..text.len() - n]
}
