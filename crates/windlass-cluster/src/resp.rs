//! RESP2, the Redis protocol, as far as the adapters' own connections need it: commands
//! written, replies, subscription pushes and `XREAD`'s entries read in place. No sockets
//! here; bytes in and out.
//!
//! Every broadcast is a publish and, on every other node, a push (or an `XADD` and an
//! `XREAD`): through the `redis` crate (a task hop each way, a command object, a `combine`
//! parser into owned values) they were about 28% of two nodes' user-space instructions per
//! message on pub/sub, and half on Redis Streams (docs/PERFORMANCE.md).

/// Appends the command `args` (`*N\r\n$len\r\narg\r\n…`).
pub(crate) fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    array(out, args.len());
    for arg in args {
        bulk(out, arg);
    }
}

/// Appends the header of a command of `len` arguments, each to follow as a [`bulk`].
pub(crate) fn array(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    push_decimal(out, len);
}

/// Appends one argument of a command.
pub(crate) fn bulk(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'$');
    push_decimal(out, arg.len());
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

fn push_decimal(out: &mut Vec<u8>, n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// A reply, as far as a publisher looks at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `+OK`.
    Status(String),
    /// `-ERR …`.
    Error(String),
    /// `:3`, what `PUBLISH` answers.
    Integer(i64),
    /// A bulk string or an array (read whole, not kept; an array holding an error, such as
    /// `EXEC`'s answer when a command of the transaction failed, is that [`Error`](Self::Error)).
    Other,
}

/// Not RESP2.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed RESP reply: {0}")]
pub(crate) struct RespError(&'static str);

/// How deep an array reply may nest.
const MAX_DEPTH: usize = 16;

/// Reads the reply at the start of `buf`: `None` while it is incomplete, else the reply and
/// the bytes it took.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, RespError> {
    parse_at(buf, 0)
}

fn parse_at(buf: &[u8], depth: usize) -> Result<Option<(Reply, usize)>, RespError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() > 64 * 1024 { Err(RespError("a line without an end")) } else { Ok(None) };
    };
    let Some((&kind, line)) = buf[..end].split_first() else { return Err(RespError("an empty line")) };
    let text = || std::str::from_utf8(line).map_err(|_| RespError("a line that is not UTF-8"));
    let used = end + 2;
    Ok(Some(match kind {
        b'+' => (Reply::Status(text()?.to_owned()), used),
        b'-' => (Reply::Error(text()?.to_owned()), used),
        b':' => (Reply::Integer(text()?.parse().map_err(|_| RespError("an integer that is not one"))?), used),
        b'$' => {
            let len: i64 = text()?.parse().map_err(|_| RespError("a bulk length that is not one"))?;
            if len < 0 {
                return Ok(Some((Reply::Other, used)));
            }
            let len = usize::try_from(len).map_err(|_| RespError("a bulk length beyond memory"))?;
            let total = bulk_end(used, len)? + 2;
            if buf.len() < total {
                return Ok(None);
            }
            if &buf[total - 2..total] != b"\r\n" {
                return Err(RespError("a bulk string without its end"));
            }
            (Reply::Other, total)
        }
        b'*' => {
            if depth >= MAX_DEPTH {
                return Err(RespError("arrays nested too deep"));
            }
            let count: i64 = text()?.parse().map_err(|_| RespError("an array length that is not one"))?;
            let mut total = used;
            let mut reply = Reply::Other;
            for _ in 0..count.max(0) {
                match parse_at(&buf[total..], depth + 1)? {
                    Some((item, n)) => {
                        total += n;
                        if let (Reply::Other, Reply::Error(_)) = (&reply, &item) {
                            reply = item;
                        }
                    }
                    None => return Ok(None),
                }
            }
            (reply, total)
        }
        _ => return Err(RespError("an unknown type")),
    }))
}

/// What a subscribed connection receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Push<'a> {
    /// An array of bulk strings and integers (`message`, `pmessage`, `subscribe`, `pong`…),
    /// each element's bytes (an integer's as its decimal text).
    Items(Vec<&'a [u8]>),
    /// `-ERR …`.
    Error(&'a str),
    /// Anything else (a status or an integer outside an array).
    Other,
}

/// Reads the push at the start of `buf` without copying it: `None` while it is incomplete,
/// else the push and the bytes it took.
pub(crate) fn parse_push(buf: &[u8]) -> Result<Option<(Push<'_>, usize)>, RespError> {
    let Some(end) = line_end(buf)? else { return Ok(None) };
    if buf[0] != b'*' {
        return Ok(parse(buf)?.map(|(reply, used)| {
            let push = match reply {
                Reply::Error(_) => Push::Error(std::str::from_utf8(&buf[1..end]).unwrap_or("ERR")),
                _ => Push::Other,
            };
            (push, used)
        }));
    }
    let count = number(&buf[1..end])?;
    let mut items = Vec::with_capacity(usize::try_from(count.clamp(0, 8)).unwrap_or(0));
    let mut at = end + 2;
    for _ in 0..count.max(0) {
        let rest = &buf[at..];
        let Some(item_end) = line_end(rest)? else { return Ok(None) };
        match rest[0] {
            b'$' => {
                let len = usize::try_from(number(&rest[1..item_end])?)
                    .map_err(|_| RespError("a null or negative bulk length in a push"))?;
                let start = item_end + 2;
                let stop = bulk_end(start, len)?;
                if rest.len() < stop + 2 {
                    return Ok(None);
                }
                if &rest[stop..stop + 2] != b"\r\n" {
                    return Err(RespError("a bulk string without its end"));
                }
                items.push(&rest[start..stop]);
                at += stop + 2;
            }
            b':' => {
                number(&rest[1..item_end])?;
                items.push(&rest[1..item_end]);
                at += item_end + 2;
            }
            _ => return Err(RespError("a push item that is neither a bulk string nor an integer")),
        }
    }
    Ok(Some((Push::Items(items), at)))
}

/// An entry of a stream as `XREAD` answers it, borrowed from the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StreamEntry<'a> {
    /// Its id, `<ms>-<seq>`.
    pub(crate) id: &'a str,
    /// Its fields and values, in order.
    pub(crate) fields: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> StreamEntry<'a> {
    /// The value of the field `name` (the last, should it repeat, as through the `redis`
    /// crate's map of an entry).
    pub(crate) fn field(&self, name: &str) -> Option<&'a [u8]> {
        self.fields.iter().rev().find(|(key, _)| *key == name.as_bytes()).map(|(_, value)| *value)
    }
}

/// What an `XREAD` of one stream is answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StreamRead<'a> {
    /// The entries after the id asked for (none when the wait ran out: a null reply).
    Entries(Vec<StreamEntry<'a>>),
    /// `-ERR …`.
    Error(&'a str),
}

/// Reads the answer to an `XREAD … STREAMS <one stream> <id>` at the start of `buf` without
/// copying it: `None` while it is incomplete, else the answer and the bytes it took. The
/// reply is `*1` of `[stream, [[id, [field, value, …]], …]]`, or a null array.
pub(crate) fn parse_stream_read(buf: &[u8]) -> Result<Option<(StreamRead<'_>, usize)>, RespError> {
    let mut at = Cursor { buf, at: 0 };
    let Some(kind) = at.peek() else { return Ok(None) };
    if kind == b'-' {
        let Some(line) = at.line()? else { return Ok(None) };
        let text = std::str::from_utf8(&line[1..]).map_err(|_| RespError("a line that is not UTF-8"))?;
        return Ok(Some((StreamRead::Error(text), at.at)));
    }
    let Some(streams) = at.array()? else { return Ok(None) };
    let mut entries = Vec::new();
    for _ in 0..streams {
        match at.array()? {
            Some(2) => {}
            Some(_) => return Err(RespError("a stream in an XREAD reply is not [name, entries]")),
            None => return Ok(None),
        }
        if at.bulk()?.is_none() {
            return Ok(None);
        }
        let Some(count) = at.array()? else { return Ok(None) };
        entries.reserve(count.min(1024));
        for _ in 0..count {
            match at.array()? {
                Some(2) => {}
                Some(_) => return Err(RespError("a stream entry is not [id, fields]")),
                None => return Ok(None),
            }
            let Some(id) = at.bulk()? else { return Ok(None) };
            let id = std::str::from_utf8(id).map_err(|_| RespError("an entry id that is not UTF-8"))?;
            // A null list of fields is an entry deleted since: it is read as one without.
            let Some(len) = at.array()? else { return Ok(None) };
            if len % 2 != 0 {
                return Err(RespError("an entry's fields are not in pairs"));
            }
            let mut fields = Vec::with_capacity(len.min(64) / 2);
            for _ in 0..len / 2 {
                let Some(name) = at.bulk()? else { return Ok(None) };
                let Some(value) = at.bulk()? else { return Ok(None) };
                fields.push((name, value));
            }
            entries.push(StreamEntry { id, fields });
        }
    }
    Ok(Some((StreamRead::Entries(entries), at.at)))
}

/// A place in a reply being read.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.at).copied()
    }

    /// The next line, its `\r\n` left out: `None` while it is incomplete.
    fn line(&mut self) -> Result<Option<&'a [u8]>, RespError> {
        let rest = &self.buf[self.at..];
        let Some(end) = line_end(rest)? else { return Ok(None) };
        self.at += end + 2;
        Ok(Some(&rest[..end]))
    }

    /// An array's header: its length (0 for a null array).
    fn array(&mut self) -> Result<Option<usize>, RespError> {
        let Some(line) = self.line()? else { return Ok(None) };
        if line[0] != b'*' {
            return Err(RespError("an array was expected"));
        }
        let count = number(&line[1..])?;
        if count < 0 {
            return Ok(Some(0));
        }
        let count = usize::try_from(count).map_err(|_| RespError("an array length beyond memory"))?;
        // Every element takes at least three bytes: a longer count than the bytes that could
        // follow is a lie, not something to reserve room for.
        if count > MAX_BULK {
            return Err(RespError("an array longer than Redis sends"));
        }
        Ok(Some(count))
    }

    /// A bulk string's bytes (a null one is an error here).
    fn bulk(&mut self) -> Result<Option<&'a [u8]>, RespError> {
        let Some(line) = self.line()? else { return Ok(None) };
        if line[0] != b'$' {
            return Err(RespError("a bulk string was expected"));
        }
        let len = usize::try_from(number(&line[1..])?).map_err(|_| RespError("a null bulk string"))?;
        let from = self.at;
        let stop = bulk_end(from, len)?;
        if self.buf.len() < stop + 2 {
            return Ok(None);
        }
        if &self.buf[stop..stop + 2] != b"\r\n" {
            return Err(RespError("a bulk string without its end"));
        }
        self.at = stop + 2;
        Ok(Some(&self.buf[from..stop]))
    }
}

/// Where the first line of `buf` ends (`\r\n` excluded): `None` while it is incomplete.
fn line_end(buf: &[u8]) -> Result<Option<usize>, RespError> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(0) => Err(RespError("an empty line")),
        Some(end) => Ok(Some(end)),
        None if buf.len() > 64 * 1024 => Err(RespError("a line without an end")),
        None => Ok(None),
    }
}

/// The largest bulk string Redis sends (its `proto-max-bulk-len`): a longer one announced is
/// not waited for.
const MAX_BULK: usize = 512 * 1024 * 1024;

/// Where a bulk string of `len` bytes starting at `start` ends (its `\r\n` not counted).
fn bulk_end(start: usize, len: usize) -> Result<usize, RespError> {
    if len > MAX_BULK {
        return Err(RespError("a bulk string longer than Redis sends"));
    }
    // Both are far below usize::MAX once the length is bounded and the start is in a buffer.
    Ok(start + len)
}

fn number(digits: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(RespError("a length that is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_written_as_redis_reads_them() {
        let mut out = Vec::new();
        command(&mut out, &[b"PUBLISH", b"socket.io#/#", b"\x93\xa1x"]);
        assert_eq!(out, b"*3\r\n$7\r\nPUBLISH\r\n$12\r\nsocket.io#/#\r\n$3\r\n\x93\xa1x\r\n");
        out.clear();
        command(&mut out, &[b"PING", b""]);
        assert_eq!(out, b"*2\r\n$4\r\nPING\r\n$0\r\n\r\n");
    }

    const REPLIES: &[(&[u8], Reply)] = &[
        (b":3\r\n", Reply::Integer(3)),
        (b":-12\r\n", Reply::Integer(-12)),
        (b"+OK\r\n", Reply::Status(String::new())),
        (b"-ERR unknown command\r\n", Reply::Error(String::new())),
        (b"$5\r\nhello\r\n", Reply::Other),
        (b"$-1\r\n", Reply::Other),
        (b"*2\r\n$3\r\nfoo\r\n:1\r\n", Reply::Other),
        (b"*-1\r\n", Reply::Other),
        (b"*1\r\n*1\r\n$0\r\n\r\n", Reply::Other),
    ];

    #[test]
    fn every_reply_reads_whole_and_not_before() {
        for (bytes, _) in REPLIES {
            let (reply, used) = parse(bytes).unwrap().unwrap();
            assert_eq!(used, bytes.len(), "{reply:?}");
            // Cut anywhere, it is incomplete; followed by more, it takes only its own bytes.
            for cut in 0..bytes.len() {
                assert_eq!(
                    parse(&bytes[..cut]),
                    Ok(None),
                    "{:?} cut at {cut}",
                    String::from_utf8_lossy(bytes)
                );
            }
            let mut more = bytes.to_vec();
            more.extend_from_slice(b":1\r\n");
            assert_eq!(parse(&more).unwrap().unwrap().1, bytes.len());
        }
        assert_eq!(parse(b"+OK\r\n").unwrap().unwrap().0, Reply::Status("OK".to_owned()));
        assert_eq!(parse(b"-ERR x\r\n").unwrap().unwrap().0, Reply::Error("ERR x".to_owned()));
    }

    #[test]
    fn an_array_holding_an_error_is_that_error() {
        // `EXEC`'s answer when the second command of the transaction failed as it ran.
        let exec = b"*3\r\n$3\r\n1-0\r\n-WRONGTYPE not a stream\r\n:1\r\n";
        assert_eq!(parse(exec), Ok(Some((Reply::Error("WRONGTYPE not a stream".to_owned()), exec.len()))));
        let nested = b"*2\r\n*1\r\n-ERR a\r\n-ERR b\r\n";
        assert_eq!(parse(nested), Ok(Some((Reply::Error("ERR a".to_owned()), nested.len()))));
        assert_eq!(parse(b"*2\r\n:1\r\n+OK\r\n"), Ok(Some((Reply::Other, 13))));
    }

    #[test]
    fn a_stream_of_replies_split_at_every_boundary_reads_the_same() {
        let stream: Vec<u8> = REPLIES.iter().flat_map(|(bytes, _)| bytes.iter().copied()).collect();
        let read_all = |chunks: &[&[u8]]| {
            let mut buf = Vec::new();
            let mut replies = Vec::new();
            for chunk in chunks {
                buf.extend_from_slice(chunk);
                while let Some((reply, used)) = parse(&buf).unwrap() {
                    replies.push(reply);
                    buf.drain(..used);
                }
            }
            assert!(buf.is_empty());
            replies
        };
        let whole = read_all(&[&stream]);
        assert_eq!(whole.len(), REPLIES.len());
        for at in 0..=stream.len() {
            assert_eq!(read_all(&[&stream[..at], &stream[at..]]), whole, "split at {at}");
        }
    }

    #[test]
    fn pushes_are_read_in_place_and_not_before_they_are_whole() {
        let pushes: &[(&[u8], Push<'_>)] = &[
            (
                b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\n\x93\r\n\r\n",
                Push::Items(vec![b"message", b"ch", b"\x93\r\n"]),
            ),
            (
                b"*4\r\n$8\r\npmessage\r\n$3\r\np#*\r\n$3\r\np#a\r\n$0\r\n\r\n",
                Push::Items(vec![b"pmessage", b"p#*", b"p#a", b""]),
            ),
            (b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:2\r\n", Push::Items(vec![b"subscribe", b"c", b"2"])),
            (b"*2\r\n$4\r\npong\r\n$0\r\n\r\n", Push::Items(vec![b"pong", b""])),
            (b"-ERR wrong\r\n", Push::Error("ERR wrong")),
            (b"+OK\r\n", Push::Other),
        ];
        let mut stream = Vec::new();
        for (bytes, expected) in pushes {
            assert_eq!(parse_push(bytes).unwrap(), Some((expected.clone(), bytes.len())));
            for cut in 0..bytes.len() {
                assert_eq!(parse_push(&bytes[..cut]).unwrap(), None, "cut at {cut}");
            }
            stream.extend_from_slice(bytes);
        }
        // One stream, split at every byte, reads the same pushes.
        for at in 0..=stream.len() {
            let mut buf = Vec::new();
            let mut read = 0;
            for chunk in [&stream[..at], &stream[at..]] {
                buf.extend_from_slice(chunk);
                while let Some((_, used)) = parse_push(&buf).unwrap() {
                    buf.drain(..used);
                    read += 1;
                }
            }
            assert_eq!(read, pushes.len(), "split at {at}");
        }
        for bad in [
            &b"*1\r\n$-1\r\n"[..],
            b"*1\r\n:x\r\n",
            b"*1\r\n+x\r\n",
            b"*1\r\n$1\r\nab\r\n",
            b"*x\r\n",
            b"\r\n",
        ] {
            assert!(parse_push(bad).is_err(), "{bad:?}");
        }
    }

    /// An `XREAD` answer for `stream` with `entries`, as Redis writes it.
    /// An entry's id and fields.
    type Written<'a> = (&'a str, &'a [(&'a [u8], &'a [u8])]);

    fn xread_reply(stream: &str, entries: &[Written<'_>]) -> Vec<u8> {
        let bulk = |out: &mut Vec<u8>, bytes: &[u8]| {
            out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        };
        let mut out = b"*1\r\n*2\r\n".to_vec();
        bulk(&mut out, stream.as_bytes());
        out.extend_from_slice(format!("*{}\r\n", entries.len()).as_bytes());
        for (id, fields) in entries {
            out.extend_from_slice(b"*2\r\n");
            bulk(&mut out, id.as_bytes());
            out.extend_from_slice(format!("*{}\r\n", fields.len() * 2).as_bytes());
            for (name, value) in *fields {
                bulk(&mut out, name);
                bulk(&mut out, value);
            }
        }
        out
    }

    #[test]
    fn xread_entries_are_read_in_place_and_not_before_they_are_whole() {
        let entries: &[Written<'_>] = &[
            (
                "1700000000000-0",
                &[(b"uid", b"abc"), (b"nsp", b"/"), (b"type", b"3"), (b"data", b"{\"a\":\"\r\n\"}")],
            ),
            ("1700000000000-1", &[(b"uid", b"abc"), (b"type", b"1"), (b"empty", b"")]),
        ];
        let reply = xread_reply("socket.io", entries);
        let (read, used) = parse_stream_read(&reply).unwrap().unwrap();
        assert_eq!(used, reply.len());
        let StreamRead::Entries(read) = read else { panic!("{read:?}") };
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].id, "1700000000000-0");
        assert_eq!(read[0].field("data"), Some(&b"{\"a\":\"\r\n\"}"[..]));
        assert_eq!(read[1].field("type"), Some(&b"1"[..]));
        assert_eq!(read[1].field("empty"), Some(&b""[..]));
        assert_eq!(read[1].field("data"), None);
        for cut in 0..reply.len() {
            assert_eq!(parse_stream_read(&reply[..cut]), Ok(None), "cut at {cut}");
        }
        // Followed by more, it takes only its own bytes.
        let mut more = reply.clone();
        more.extend_from_slice(b"*-1\r\n");
        assert_eq!(parse_stream_read(&more).unwrap().unwrap().1, reply.len());

        // The wait ran out; an error; a deleted entry (null fields); no entries.
        assert_eq!(parse_stream_read(b"*-1\r\n"), Ok(Some((StreamRead::Entries(vec![]), 5))));
        assert_eq!(parse_stream_read(b"-ERR x\r\n"), Ok(Some((StreamRead::Error("ERR x"), 8))));
        let deleted = b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*-1\r\n";
        let (read, _) = parse_stream_read(deleted).unwrap().unwrap();
        assert_eq!(read, StreamRead::Entries(vec![StreamEntry { id: "1-1", fields: vec![] }]));
        assert_eq!(
            parse_stream_read(&xread_reply("s", &[])).unwrap().unwrap().0,
            StreamRead::Entries(vec![])
        );
    }

    #[test]
    fn xread_replies_split_at_every_boundary_read_the_same() {
        let first = xread_reply("s", &[("1-0", &[(b"k", b"v")]), ("1-1", &[(b"data", b"\r\n")])]);
        let second = xread_reply("s", &[("2-0", &[(b"type", b"9")])]);
        let stream = [&first[..], b"*-1\r\n", &second].concat();
        let read_all = |chunks: &[&[u8]]| {
            let mut buf = Vec::new();
            let mut ids = Vec::new();
            for chunk in chunks {
                buf.extend_from_slice(chunk);
                while let Some((read, used)) = parse_stream_read(&buf).unwrap() {
                    let StreamRead::Entries(entries) = read else { panic!() };
                    ids.extend(entries.iter().map(|entry| entry.id.to_owned()));
                    ids.push("|".to_owned());
                    buf.drain(..used);
                }
            }
            assert!(buf.is_empty());
            ids
        };
        let whole = read_all(&[&stream]);
        assert_eq!(whole, ["1-0", "1-1", "|", "|", "2-0", "|"]);
        for at in 0..=stream.len() {
            assert_eq!(read_all(&[&stream[..at], &stream[at..]]), whole, "split at {at}");
        }
    }

    #[test]
    fn malformed_xread_replies_are_errors() {
        for bad in [
            &b"+OK\r\n"[..],
            b":1\r\n",
            b"*1\r\n*3\r\n",
            b"*1\r\n*2\r\n:1\r\n",
            b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*1\r\n",
            b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$1\r\n1\r\n*3\r\n",
            b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$-1\r\n",
            b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$2\r\n\xff\xfe\r\n",
            b"*1\r\n*2\r\n$1\r\nsXY",
            b"*99999999999\r\n",
            b"*x\r\n",
            b"\r\n",
        ] {
            assert!(parse_stream_read(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn malformed_replies_are_errors() {
        for bytes in [
            &b"?\r\n"[..],
            b"\r\n",
            b":x\r\n",
            b"$2\r\nabcd\r\n",
            b"$x\r\n",
            b"*x\r\n",
            &[b'+', 0xff, b'\r', b'\n'],
        ] {
            assert!(parse(bytes).is_err(), "{bytes:?}");
        }
        assert!(parse(b"$999999999999\r\n").is_err());
        assert!(parse_push(b"*1\r\n$999999999999\r\n").is_err());
        let deep = b"*1\r\n".repeat(40);
        assert!(parse(&deep).is_err());
        assert!(parse(&vec![b'+'; 70_000]).is_err());
    }
}
