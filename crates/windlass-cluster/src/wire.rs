//! The messages nodes exchange, as `@socket.io/redis-adapter` 8.x writes them: no sockets,
//! tasks or clocks here, bytes in and out.
//!
//! - A **broadcast** goes to `<prefix>#<nsp>#` (or `<prefix>#<nsp>#<room>#` when it names one
//!   room) as `MessagePack` `[uid, packet, {rooms, except, flags}]`, the packet being
//!   socket.io-parser's object `{type, data, nsp}` with binary values as `MessagePack` `bin`.
//! - A **request** goes to `<prefix>-request#<nsp>#` as JSON `{uid, requestId, type, …}` (or
//!   `MessagePack` when it carries a packet); **responses** to `<prefix>-response#<nsp>#`, JSON
//!   `{requestId, …}` (`MessagePack` for a broadcast's acknowledgement).
//!
//! `MessagePack` is written as notepack.io (Node's encoder) writes it: integers in the smallest
//! form, other numbers as float 64, `undefined` fields left out; read as it reads it (its
//! `undefined` extension becomes `null`).

use std::sync::Arc;
use std::time::Duration;

use windlass::event_server::{BroadcastFlags, BroadcastOptions, PacketText, SocketInfo};
use windlass_sio_proto::socket::{Packet, PacketType};
use windlass_sio_proto::{Map, Number, Value};

/// A message that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Not `MessagePack`.
    #[error("malformed MessagePack: {0}")]
    MessagePack(String),
    /// Not JSON.
    #[error("malformed JSON: {0}")]
    Json(String),
    /// Well-formed, but not the shape expected.
    #[error("unexpected message shape: {0}")]
    Shape(&'static str),
}

/// The request types of `@socket.io/redis-adapter` (its `RequestType` enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RequestType {
    /// Socket ids in some rooms.
    Sockets = 0,
    /// Every room name.
    AllRooms = 1,
    /// Sockets join rooms.
    RemoteJoin = 2,
    /// Sockets leave rooms.
    RemoteLeave = 3,
    /// Sockets are disconnected.
    RemoteDisconnect = 4,
    /// Sockets described (`fetchSockets`).
    RemoteFetch = 5,
    /// An event for the other servers (`serverSideEmit`).
    ServerSideEmit = 6,
    /// A broadcast whose recipients answer (`emitWithAck` to many).
    Broadcast = 7,
    /// How many clients a node sent such a broadcast to.
    BroadcastClientCount = 8,
    /// One client's answer to it.
    BroadcastAck = 9,
}

impl RequestType {
    fn from_number(n: u64) -> Option<Self> {
        Some(match n {
            0 => Self::Sockets,
            1 => Self::AllRooms,
            2 => Self::RemoteJoin,
            3 => Self::RemoteLeave,
            4 => Self::RemoteDisconnect,
            5 => Self::RemoteFetch,
            6 => Self::ServerSideEmit,
            7 => Self::Broadcast,
            8 => Self::BroadcastClientCount,
            9 => Self::BroadcastAck,
            _ => return None,
        })
    }
}

/// The channels of one namespace under one prefix (`socket.io` by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channels {
    /// `<prefix>#<nsp>#`: broadcasts (with a room name and `#` appended for one room).
    pub broadcast: String,
    /// `<prefix>-request#<nsp>#`.
    pub request: String,
    /// `<prefix>-response#<nsp>#`.
    pub response: String,
}

impl Channels {
    /// The channels of `nsp`.
    pub fn new(prefix: &str, nsp: &str) -> Self {
        Self {
            broadcast: format!("{prefix}#{nsp}#"),
            request: format!("{prefix}-request#{nsp}#"),
            response: format!("{prefix}-response#{nsp}#"),
        }
    }

    /// Where a broadcast aimed by `opts` is published.
    pub fn broadcast_to(&self, opts: &BroadcastOptions) -> String {
        match opts.rooms.as_slice() {
            [room] => format!("{}{room}#", self.broadcast),
            _ => self.broadcast.clone(),
        }
    }

    /// [`Channels::new`]`(prefix, nsp).`[`broadcast_to`](Self::broadcast_to)`(opts)`, made
    /// in one allocation: a node publishes every broadcast there.
    pub fn broadcast_channel(prefix: &str, nsp: &str, opts: &BroadcastOptions) -> String {
        let room = match opts.rooms.as_slice() {
            [room] => Some(&**room),
            _ => None,
        };
        let mut channel = String::with_capacity(prefix.len() + nsp.len() + room.map_or(0, str::len) + 3);
        for part in [prefix, "#", nsp, "#"] {
            channel.push_str(part);
        }
        if let Some(room) = room {
            channel.push_str(room);
            channel.push('#');
        }
        channel
    }

    /// The pattern that matches every broadcast channel of the namespace.
    pub fn broadcast_pattern(&self) -> String {
        format!("{}*", self.broadcast)
    }
}

/// A broadcast from another node.
#[derive(Clone, Debug, PartialEq)]
pub struct Broadcast {
    /// The sending node.
    pub uid: String,
    /// The namespace of the packet (`/` when it has none).
    pub nsp: String,
    /// The packet.
    pub packet: BroadcastPacket,
    /// Whom it is for.
    pub opts: BroadcastOptions,
}

/// A broadcast's packet as read from another node: built as values, or written straight from
/// the wire as the text it is sent as (an event or an acknowledgement without binary, whose
/// data `MessagePack` held: nothing built, printed or dropped per value).
#[derive(Clone, Debug, PartialEq)]
pub enum BroadcastPacket {
    /// Built as values.
    Built(Packet),
    /// Written as text.
    Text(PacketText),
}

impl BroadcastPacket {
    /// The packet built, read back from its text if it was written.
    pub fn into_packet(self) -> Result<Packet, WireError> {
        match self {
            Self::Built(packet) => Ok(packet),
            Self::Text(text) => text.to_packet().ok_or(WireError::Shape("a packet written straight reads")),
        }
    }
}

/// `[uid, packet, {rooms, except, flags}]` in `MessagePack`.
pub fn encode_broadcast(uid: &str, packet: &Packet, opts: &BroadcastOptions) -> Vec<u8> {
    // Written straight from the packet, its data not copied into a `Value` first: this runs
    // for every broadcast a node makes.
    let mut out = Vec::with_capacity(256);
    out.push(0x93);
    msgpack::write_str(uid, &mut out);
    write_packet(packet, &mut out);
    write_opts(opts, &mut out);
    out
}

/// A broadcast as a broker writes it but for its sequence number, which is written in when
/// the node numbers it ([`numbered`](Self::numbered)): the encoding is done before, outside
/// the lock that keeps numbers in order.
#[derive(Clone, Debug)]
pub struct Unnumbered {
    bytes: Vec<u8>,
    seq_at: usize,
    /// How the number is written.
    number: fn(u64, &mut Vec<u8>),
}

impl Unnumbered {
    /// `bytes` whose number goes at `seq_at`, written by `number`.
    pub(crate) fn new(bytes: Vec<u8>, seq_at: usize, number: fn(u64, &mut Vec<u8>)) -> Self {
        Self { bytes, seq_at, number }
    }

    /// The bytes with `seq` in its place.
    pub fn numbered(self, seq: u64) -> Vec<u8> {
        let Self { mut bytes, seq_at, number } = self;
        if seq_at == bytes.len() {
            number(seq, &mut bytes);
            return bytes;
        }
        let mut written = Vec::with_capacity(32);
        number(seq, &mut written);
        bytes.splice(seq_at..seq_at, written);
        bytes
    }
}

/// The `data` field [`ClusterMessage::fields`] writes of [`ClusterMessage::broadcast_in`]`(uid,
/// nsp, packet, opts)`, appended to `out` straight from the packet (its data not copied into
/// a value first); `false`, with nothing written, when the packet holds binary (which that
/// field carries as base64 `MessagePack`, not JSON).
pub fn write_broadcast_json(nsp: &str, packet: &Packet, opts: &BroadcastOptions, out: &mut Vec<u8>) -> bool {
    if packet.data.as_ref().is_some_and(Value::has_binary) {
        return false;
    }
    out.extend_from_slice(b"{\"packet\":{\"type\":");
    push_u64(packet_type(packet) as u64, out);
    if let Some(data) = &packet.data {
        out.extend_from_slice(b",\"data\":");
        data.write_json(out);
    }
    out.extend_from_slice(b",\"nsp\":");
    Value::write_json_string(nsp, out);
    if let Some(id) = packet.id {
        out.extend_from_slice(b",\"id\":");
        push_u64(id, out);
    }
    out.extend_from_slice(b"},\"opts\":");
    write_opts_json(opts, out);
    out.push(b'}');
    true
}

/// `n` in decimal.
fn push_u64(n: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(n.to_string().as_bytes());
}

/// [`ClusterMessage::encode_compact`] of [`ClusterMessage::broadcast_in`]`(uid, nsp, packet,
/// opts)`, to be [`numbered`](Unnumbered::numbered), written straight from the packet (its
/// data not copied into a value first): this runs for every broadcast a node makes over NATS.
pub fn encode_compact_broadcast(
    uid: &str,
    nsp: &str,
    packet: &Packet,
    opts: &BroadcastOptions,
) -> Unnumbered {
    let mut out = Vec::with_capacity(256);
    out.push(0x95);
    msgpack::write_str(uid, &mut out);
    msgpack::write_str(nsp, &mut out);
    msgpack::write_uint(MessageType::Broadcast as u64, &mut out);
    let seq_at = out.len();
    msgpack::write_map_len(2, &mut out);
    msgpack::write_str("packet", &mut out);
    write_packet_in(packet, nsp, &mut out);
    msgpack::write_str("opts", &mut out);
    write_opts(opts, &mut out);
    Unnumbered::new(out, seq_at, msgpack::write_uint)
}

/// The sender and sequence number of a message in the compact layout, read without the rest.
pub fn compact_sender(bytes: &[u8]) -> Option<(&str, Option<u64>)> {
    let mut reader = msgpack::Reader::new(bytes, MAX_DEPTH);
    reader.array_len().ok()?.filter(|len| *len >= 5)?;
    let uid = reader.str_here().ok()??;
    if reader.str_here().ok()?.is_none() {
        reader.value(1).ok()?;
    }
    reader.value(1).ok()?;
    let seq = match reader.value(1).ok()? {
        Value::Null => None,
        number => Some(number.as_u64()?),
    };
    Some((uid, seq))
}

/// `MessagePack` of [`packet_to_value`]`(packet)`, written without building it.
fn write_packet(packet: &Packet, out: &mut Vec<u8>) {
    write_packet_in(packet, &packet.namespace, out);
}

/// [`write_packet`] with `nsp` for the packet's namespace.
fn write_packet_in(packet: &Packet, nsp: &str, out: &mut Vec<u8>) {
    msgpack::write_map_len(2 + usize::from(packet.data.is_some()) + usize::from(packet.id.is_some()), out);
    msgpack::write_str("type", out);
    msgpack::write_uint(packet_type(packet) as u64, out);
    if let Some(data) = &packet.data {
        msgpack::write_str("data", out);
        msgpack::write(data, out);
    }
    msgpack::write_str("nsp", out);
    msgpack::write_str(nsp, out);
    if let Some(id) = packet.id {
        msgpack::write_str("id", out);
        msgpack::write_uint(id, out);
    }
}

/// Binary events and acks travel as plain ones: `MessagePack` carries binary as it is.
fn packet_type(packet: &Packet) -> PacketType {
    match packet.kind {
        PacketType::BinaryEvent => PacketType::Event,
        PacketType::BinaryAck => PacketType::Ack,
        other => other,
    }
}

/// The sending node's uid of a broadcast, read without decoding the rest: a node skips its
/// own broadcasts (Redis sends every subscriber what it publishes) before paying for them.
pub fn broadcast_uid(bytes: &[u8]) -> Option<&str> {
    let rest = match bytes.first()? {
        0x90..=0x9f => &bytes[1..],
        0xdc => bytes.get(3..)?,
        0xdd => bytes.get(5..)?,
        _ => return None,
    };
    let (len, at) = match rest.first()? {
        marker @ 0xa0..=0xbf => (usize::from(marker & 0x1f), 1),
        0xd9 => (usize::from(*rest.get(1)?), 2),
        0xda => (usize::from(u16::from_be_bytes([*rest.get(1)?, *rest.get(2)?])), 3),
        _ => return None,
    };
    std::str::from_utf8(rest.get(at..at + len)?).ok()
}

/// Reads a broadcast, its packet written straight as text when it can be
/// ([`BroadcastPacket::Text`]).
///
/// The envelope is read in place, only the packet's `data` and the options built as values
/// when the packet is not written straight: this runs for every broadcast another node makes.
pub fn decode_broadcast(bytes: &[u8]) -> Result<Broadcast, WireError> {
    read_broadcast(bytes, true)
}

/// [`decode_broadcast`], its packet built when `straight` is false.
#[doc(hidden)]
pub fn read_broadcast(bytes: &[u8], straight: bool) -> Result<Broadcast, WireError> {
    let mut reader = msgpack::Reader::new(bytes, MAX_DEPTH);
    let Some(len) = reader.array_len()? else {
        return Err(WireError::Shape("a broadcast is an array"));
    };
    if len < 3 {
        return Err(WireError::Shape("a broadcast has three items"));
    }
    let Value::String(uid) = reader.value(1)? else {
        return Err(WireError::Shape("a broadcast's uid is a string"));
    };
    let Some(entries) = reader.map_len()? else {
        return Err(WireError::Shape("a packet is an object"));
    };
    let mut fields = PacketFields::default();
    for _ in 0..entries {
        let key = reader.key(2)?;
        if straight && fields.data_straight(&key, &mut reader, 2) {
            continue;
        }
        let value = reader.value(2)?;
        fields.set(&key, value);
    }
    // The options in place; any odd shape read again as a value.
    let at = reader.position();
    let opts = if let Some(opts) = opts_in_place(&mut reader, 2) {
        opts
    } else {
        reader.rewind(at);
        opts_from_value(&reader.value(1)?)
    };
    // What follows is read too: a broadcast is well-formed to its end or not at all.
    for _ in 3..len {
        reader.value(1)?;
    }
    let (nsp, packet) = fields.broadcast_packet(|at| reader.value_at(at, 2))?;
    Ok(Broadcast { uid, nsp, packet, opts })
}

/// The fields of socket.io-parser's packet object that a packet is made of (the last of a
/// key written twice counts, as in JS).
#[derive(Default)]
struct PacketFields {
    kind: Option<Value>,
    nsp: Option<Value>,
    id: Option<Value>,
    data: Option<Value>,
    /// The data written straight as JSON, in place of `data`, and where it starts.
    straight: Option<(Vec<u8>, usize)>,
}

impl PacketFields {
    fn set(&mut self, key: &str, value: Value) {
        let slot = match key {
            "type" => &mut self.kind,
            "nsp" => &mut self.nsp,
            "id" => &mut self.id,
            "data" => {
                self.straight = None;
                &mut self.data
            }
            _ => return,
        };
        *slot = Some(value);
    }

    /// If `key` is `data` and its value (at the reader, `depth` deep) can be written straight
    /// as JSON, writes it and takes its place; `false`, the reader where it was, otherwise.
    fn data_straight(&mut self, key: &str, reader: &mut msgpack::Reader<'_>, depth: usize) -> bool {
        if key != "data" {
            return false;
        }
        let at = reader.position();
        let mut json = Vec::with_capacity((reader.remaining() + 16).min(4096));
        if reader.json_here(depth, &mut json).is_none() {
            reader.rewind(at);
            return false;
        }
        self.data = None;
        self.straight = Some((json, at));
        true
    }

    /// If `key` is `data` and its value (JSON at `json`'s place, `depth` deep) reads and
    /// prints back as written, takes it as it stands; `false`, `json` where it was, otherwise.
    fn data_verbatim(&mut self, key: &str, json: &mut JsonCursor<'_>, depth: usize) -> bool {
        if key != "data" {
            return false;
        }
        json.skip_ws();
        let Some(end) = Value::verbatim_json_at(json.text, json.at, depth) else {
            return false;
        };
        self.data = None;
        self.straight = Some((json.text.as_bytes()[json.at..end].to_vec(), json.at));
        json.at = end;
        true
    }

    /// The packet's namespace and the packet, written as text when its data was written
    /// straight and it is an event or an acknowledgement whose data is an array; otherwise
    /// built, its data read again by value (`reread` reads the value at a place of the bytes
    /// the fields were read from).
    fn broadcast_packet(
        mut self,
        reread: impl FnOnce(usize) -> Result<Value, WireError>,
    ) -> Result<(String, BroadcastPacket), WireError> {
        if let Some((json, at)) = self.straight.take() {
            let kind = self.kind()?;
            let namespace = self.nsp.as_ref().and_then(Value::as_str).unwrap_or("/");
            let id = self.id.as_ref().and_then(Value::as_u64);
            if let Some(text) = PacketText::new(kind, namespace, id, &json) {
                return Ok((namespace.to_owned(), BroadcastPacket::Text(text)));
            }
            self.data = Some(reread(at)?);
        }
        let packet = self.packet()?;
        Ok((packet.namespace.to_string(), BroadcastPacket::Built(packet)))
    }

    fn kind(&self) -> Result<PacketType, WireError> {
        self.kind
            .as_ref()
            .and_then(Value::as_u64)
            .and_then(|n| u8::try_from(n).ok())
            .and_then(|n| PacketType::from_char(b'0'.saturating_add(n)))
            .ok_or(WireError::Shape("a packet has a known type"))
    }

    /// The packet; a missing `nsp` is `/`, as in Node.
    fn packet(self) -> Result<Packet, WireError> {
        let kind = match self.kind()? {
            PacketType::BinaryEvent => PacketType::Event,
            PacketType::BinaryAck => PacketType::Ack,
            other => other,
        };
        let namespace = self.nsp.as_ref().and_then(Value::as_str).unwrap_or("/");
        let id = self.id.as_ref().and_then(Value::as_u64);
        Ok(Packet { kind, namespace: namespace.into(), id, data: self.data })
    }
}

/// A broadcast's packet and options.
pub type BroadcastParts = (BroadcastPacket, BroadcastOptions);

/// A broadcast's `data` field (`{"packet": {…}, "opts": {…}}` in JSON) read in place: the
/// packet's data used as it stands when it prints back as written (a [`PacketText`]), the
/// other members and the options built as values, no maps around them. `None` for
/// anything else (a `requestId`, a key twice, any other shape or an error): the caller then
/// reads it by value, which says what is wrong. This runs for every broadcast a node reads
/// from a Redis stream.
fn broadcast_json_in_place(text: &str) -> Option<BroadcastParts> {
    let mut json = JsonCursor { text, at: 0 };
    let mut packet = None;
    let mut opts = None;
    json.members(|json, key| {
        match key {
            "packet" if packet.is_none() => {
                let mut fields = PacketFields::default();
                json.members(|json, key| {
                    if !fields.data_verbatim(key, json, 2) {
                        fields.set(key, json.value(2)?);
                    }
                    Some(())
                })?;
                packet = Some(fields);
            }
            "opts" if opts.is_none() => opts = Some(json.value(1)?),
            _ => return None,
        }
        Some(())
    })?;
    json.skip_ws();
    if json.at != text.len() {
        return None;
    }
    let reread = |at| {
        Value::from_json_at(text, at, 2)
            .map(|(value, _)| value)
            .map_err(|_| WireError::Shape("data read as written reads"))
    };
    let (_, packet) = packet?.broadcast_packet(reread).ok()?;
    Some((packet, opts.as_ref().map(opts_from_value).unwrap_or_default()))
}

/// A place in JSON text read by [`broadcast_json_in_place`].
struct JsonCursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> JsonCursor<'a> {
    fn skip_ws(&mut self) {
        let bytes = self.text.as_bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// Skips whitespace and `byte`, if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_ws();
        let found = self.text.as_bytes().get(self.at) == Some(&byte);
        if found {
            self.at += 1;
        }
        found
    }

    /// An object's members, each key handed to `member`, which reads its value.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.key()?;
            if !self.eat(b':') {
                return None;
            }
            member(self, key)?;
            if self.eat(b'}') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// A key without escapes (one with escapes is left to the reading by value).
    fn key(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let rest = &self.text.as_bytes()[self.at..];
        let len = rest.iter().position(|b| matches!(b, b'"' | b'\\' | 0..=0x1f))?;
        if rest[len] != b'"' {
            return None;
        }
        let key = &self.text[self.at..self.at + len];
        self.at += len + 1;
        Some(key)
    }

    /// The value next, as if `depth` levels deep.
    fn value(&mut self, depth: usize) -> Option<Value> {
        let (value, end) = Value::from_json_at(self.text, self.at, depth).ok()?;
        self.at = end;
        Some(value)
    }
}

/// A broadcast's data `{packet, opts}` read in place: only the packet's `data` and the
/// options are built as values. `None` for anything else (another key, a packet that is not
/// a map or has no known type, bytes that do not read): the caller reads it as a value then,
/// so both ways agree on every input.
fn broadcast_in_place(reader: &mut msgpack::Reader<'_>) -> Option<BroadcastParts> {
    let entries = reader.map_len().ok()??;
    let mut packet = None;
    let mut opts = None;
    for _ in 0..entries {
        match &*reader.key(2).ok()? {
            "packet" => {
                let keys = reader.map_len().ok()??;
                let mut fields = PacketFields::default();
                for _ in 0..keys {
                    let key = reader.key(3).ok()?;
                    if fields.data_straight(&key, reader, 3) {
                        continue;
                    }
                    let value = reader.value(3).ok()?;
                    fields.set(&key, value);
                }
                packet = Some(fields);
            }
            "opts" => opts = Some(opts_in_place(reader, 3)?),
            _ => return None,
        }
    }
    let (_, packet) = packet?.broadcast_packet(|at| reader.value_at(at, 3)).ok()?;
    Some((packet, opts.unwrap_or_default()))
}

/// A broadcast's `opts` read in place as [`opts_from_value`] reads its value (the last of a
/// key written twice counts; a value of another type is the default); `None` when they are
/// not a map or do not read.
/// `depth` is that of the map's keys and values.
fn opts_in_place(reader: &mut msgpack::Reader<'_>, depth: usize) -> Option<BroadcastOptions> {
    let entries = reader.map_len().ok()??;
    let mut opts = BroadcastOptions::default();
    for _ in 0..entries {
        match &*reader.key(depth).ok()? {
            "rooms" => opts.rooms = rooms_in_place(reader, depth)?,
            "except" => opts.except = rooms_in_place(reader, depth)?,
            "flags" => {
                opts.flags = BroadcastFlags::default();
                let Some(flags) = reader.map_len().ok()? else {
                    reader.value(depth).ok()?;
                    continue;
                };
                for _ in 0..flags {
                    let key = reader.key(depth + 1).ok()?;
                    let value = reader.value(depth + 1).ok()?;
                    match &*key {
                        "volatile" => opts.flags.volatile = value.as_bool().unwrap_or(false),
                        "compress" => opts.flags.compress = value.as_bool().unwrap_or(true),
                        "timeout" => opts.flags.timeout = value.as_u64().map(Duration::from_millis),
                        _ => {}
                    }
                }
            }
            _ => {
                reader.value(depth).ok()?;
            }
        }
    }
    Some(opts)
}

/// Rooms read in place as [`rooms_from_value`] reads their value.
fn rooms_in_place(reader: &mut msgpack::Reader<'_>, depth: usize) -> Option<Vec<Arc<str>>> {
    let Some(len) = reader.array_len().ok()? else {
        reader.value(depth).ok()?;
        return Some(Vec::new());
    };
    let mut rooms = Vec::with_capacity(len.min(16));
    for _ in 0..len {
        if let Some(room) = reader.str_here().ok()? {
            rooms.push(Arc::from(room));
        } else if let Value::Number(n) = reader.value(depth + 1).ok()? {
            rooms.push(Arc::from(n.to_string()));
        }
    }
    Some(rooms)
}

/// A request from another node (the fields its type uses are set).
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The asking node.
    pub uid: String,
    /// Its id, for requests that expect answers.
    pub request_id: Option<String>,
    /// What it asks.
    pub kind: RequestType,
    /// Whom it is about (`opts`).
    pub opts: Option<BroadcastOptions>,
    /// `rooms`: the rooms of a `Sockets` request, or to join or leave.
    pub rooms: Vec<Arc<str>>,
    /// `sid` and `room` of the single-socket join and leave forms.
    pub sid: Option<String>,
    /// See `sid`.
    pub room: Option<String>,
    /// `close` of a disconnect.
    pub close: bool,
    /// `data`: a server-side emit's arguments.
    pub data: Option<Value>,
    /// `packet`: a broadcast with acknowledgements.
    pub packet: Option<Packet>,
}

impl Request {
    /// A request of `kind` from `uid`, the other fields empty.
    pub fn new(uid: &str, kind: RequestType) -> Self {
        Self {
            uid: uid.to_owned(),
            request_id: None,
            kind,
            opts: None,
            rooms: Vec::new(),
            sid: None,
            room: None,
            close: false,
            data: None,
            packet: None,
        }
    }

    /// The request as Node writes it: JSON, or `MessagePack` when it carries a packet.
    pub fn encode(&self) -> Vec<u8> {
        let mut map = Map::with_capacity(6);
        map.insert("uid", Value::from(self.uid.as_str()));
        if let Some(id) = &self.request_id {
            map.insert("requestId", Value::from(id.as_str()));
        }
        map.insert("type", Value::from(Number::from(self.kind as u64)));
        if let Some(packet) = &self.packet {
            map.insert("packet", packet_to_value(packet));
        }
        if let Some(opts) = &self.opts {
            map.insert("opts", opts_to_value(opts, self.kind == RequestType::Broadcast));
        }
        if matches!(self.kind, RequestType::RemoteJoin | RequestType::RemoteLeave | RequestType::Sockets) {
            map.insert("rooms", rooms_value(&self.rooms));
        }
        if let Some(sid) = &self.sid {
            map.insert("sid", Value::from(sid.as_str()));
        }
        if let Some(room) = &self.room {
            map.insert("room", Value::from(room.as_str()));
        }
        if self.kind == RequestType::RemoteDisconnect {
            map.insert("close", Value::Bool(self.close));
        }
        if let Some(data) = &self.data {
            map.insert("data", data.clone());
        }
        if self.packet.is_some() {
            return to_msgpack(&Value::Object(map));
        }
        Value::Object(map).to_json().into_bytes()
    }

    /// Reads a request (JSON when it starts with `{`, `MessagePack` otherwise, as Node does).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let Value::Object(mut map) = json_or_msgpack(bytes)? else {
            return Err(WireError::Shape("a request is an object"));
        };
        let kind = map
            .get("type")
            .and_then(Value::as_u64)
            .and_then(RequestType::from_number)
            .ok_or(WireError::Shape("a request has a known type"))?;
        let text = |map: &Map, key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
        let packet = match map.remove("packet") {
            Some(packet) => Some(packet_from_value(packet)?),
            None => None,
        };
        Ok(Self {
            uid: text(&map, "uid").unwrap_or_default(),
            request_id: text(&map, "requestId"),
            kind,
            opts: map.get("opts").map(opts_from_value),
            rooms: map.get("rooms").map(rooms_from_value).unwrap_or_default(),
            sid: text(&map, "sid"),
            room: text(&map, "room"),
            close: map.get("close").and_then(Value::as_bool).unwrap_or(false),
            data: map.remove("data"),
            packet,
        })
    }
}

/// A response to a request (the fields its request's type uses are set).
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The request answered.
    pub request_id: String,
    /// Set on the responses that say their type (broadcast acks, server-side emit acks).
    pub kind: Option<RequestType>,
    /// `sockets`: ids for `Sockets`, descriptions for `RemoteFetch` (kept as values).
    pub sockets: Option<Vec<Value>>,
    /// `rooms` of `AllRooms`.
    pub rooms: Option<Vec<Arc<str>>>,
    /// `clientCount` of `BroadcastClientCount`.
    pub client_count: Option<u64>,
    /// `packet` of `BroadcastAck`, `data` of a server-side emit's ack.
    pub data: Option<Value>,
}

impl Response {
    /// An answer to `request_id` with nothing in it yet.
    pub fn to(request_id: &str) -> Self {
        Self {
            request_id: request_id.to_owned(),
            kind: None,
            sockets: None,
            rooms: None,
            client_count: None,
            data: None,
        }
    }

    /// The response as Node writes it: JSON, but `MessagePack` for a broadcast's ack.
    pub fn encode(&self) -> Vec<u8> {
        let mut map = Map::with_capacity(3);
        if let Some(kind) = self.kind {
            map.insert("type", Value::from(Number::from(kind as u64)));
        }
        map.insert("requestId", Value::from(self.request_id.as_str()));
        if let Some(sockets) = &self.sockets {
            map.insert("sockets", Value::Array(sockets.clone()));
        }
        if let Some(rooms) = &self.rooms {
            map.insert("rooms", rooms_value(rooms));
        }
        if let Some(count) = self.client_count {
            map.insert("clientCount", Value::from(Number::from(count)));
        }
        if self.kind == Some(RequestType::BroadcastAck) {
            // An answer without arguments has no `packet` (notepack leaves out `undefined`).
            if let Some(data) = &self.data {
                map.insert("packet", data.clone());
            }
            return to_msgpack(&Value::Object(map));
        }
        if let Some(data) = &self.data {
            map.insert("data", data.clone());
        }
        Value::Object(map).to_json().into_bytes()
    }

    /// Reads a response.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let Value::Object(mut map) = json_or_msgpack(bytes)? else {
            return Err(WireError::Shape("a response is an object"));
        };
        let request_id = map
            .get("requestId")
            .and_then(Value::as_str)
            .ok_or(WireError::Shape("a response has a requestId"))?
            .to_owned();
        let kind = map.get("type").and_then(Value::as_u64).and_then(RequestType::from_number);
        let sockets = match map.remove("sockets") {
            Some(Value::Array(items)) => Some(items),
            _ => None,
        };
        let data =
            if kind == Some(RequestType::BroadcastAck) { map.remove("packet") } else { map.remove("data") };
        Ok(Self {
            request_id,
            kind,
            sockets,
            rooms: map.get("rooms").map(rooms_from_value),
            client_count: map.get("clientCount").and_then(Value::as_u64),
            data,
        })
    }
}

/// A socket as `fetchSockets` answers describe it: `{id, handshake, rooms, data}`.
pub fn socket_to_value(socket: &SocketInfo) -> Value {
    let mut map = Map::with_capacity(4);
    map.insert("id", Value::from(&*socket.id));
    map.insert("handshake", socket.handshake.clone());
    map.insert("rooms", rooms_value(&socket.rooms));
    map.insert("data", socket.data.clone());
    Value::Object(map)
}

/// Reads one socket of a `fetchSockets` answer; `None` without an id.
pub fn socket_from_value(value: &Value) -> Option<SocketInfo> {
    Some(SocketInfo {
        id: Arc::from(value.get("id")?.as_str()?),
        rooms: value.get("rooms").map(rooms_from_value).unwrap_or_default(),
        handshake: value.get("handshake").cloned().unwrap_or_default(),
        data: value.get("data").cloned().unwrap_or_default(),
    })
}

fn rooms_value(rooms: &[Arc<str>]) -> Value {
    Value::Array(rooms.iter().map(|room| Value::from(&**room)).collect())
}

/// Room names; Node allows numbers as room names and prints them as JS does.
fn rooms_from_value(value: &Value) -> Vec<Arc<str>> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| match item {
                    Value::String(s) => Some(Arc::from(s.as_str())),
                    Value::Number(n) => Some(Arc::from(n.to_string())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn opts_to_value(opts: &BroadcastOptions, with_flags: bool) -> Value {
    let mut map = Map::with_capacity(3);
    map.insert("rooms", rooms_value(&opts.rooms));
    let except: Vec<Arc<str>> = except_once(opts).into_iter().cloned().collect();
    map.insert("except", rooms_value(&except));
    if with_flags {
        let mut flags = Map::new();
        for (name, value) in flags_written(opts) {
            flags.insert(name, value);
        }
        map.insert("flags", Value::Object(flags));
    }
    Value::Object(map)
}

/// Whether the data of `packet` reads back from a log exactly as it is, so that a node may
/// deliver its own broadcast as it holds it rather than as the log gives it back: no integer
/// beyond ±2^53 (read back as a float, rounded, as in JS), no NaN or infinity (`null` in
/// JSON), and nesting well within what readers of the log accept ([`MAX_DEPTH`]).
pub fn reads_back_as_written(packet: &Packet) -> bool {
    const SAFE: u64 = 1 << 53;
    // The packet's data sits three levels deep in a message; a margin for the envelope.
    const DEEPEST: usize = MAX_DEPTH - 8;
    fn exact(value: &Value, depth: usize) -> bool {
        match value {
            Value::Number(n) => {
                n.is_finite() && (!n.is_integer() || n.as_i64().is_some_and(|i| i.unsigned_abs() <= SAFE))
            }
            Value::Array(items) => depth < DEEPEST && items.iter().all(|item| exact(item, depth + 1)),
            Value::Object(map) => depth < DEEPEST && map.values().all(|item| exact(item, depth + 1)),
            _ => true,
        }
    }
    packet.data.as_ref().is_none_or(|data| exact(data, 0))
}

/// The options a node reads back of a broadcast it wrote with `opts` (the exceptions once
/// each, not local, the timeout in whole milliseconds), made without writing them.
pub fn opts_as_read(opts: &BroadcastOptions) -> BroadcastOptions {
    let except = except_once(opts).into_iter().cloned().collect();
    let millis =
        |timeout: Duration| Duration::from_millis(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
    BroadcastOptions {
        rooms: opts.rooms.clone(),
        except,
        flags: BroadcastFlags { local: false, timeout: opts.flags.timeout.map(millis), ..opts.flags },
    }
}

/// The rooms of `except`, each once, in order.
fn except_once(opts: &BroadcastOptions) -> Vec<&Arc<str>> {
    let mut except: Vec<&Arc<str>> = Vec::with_capacity(opts.except.len());
    for room in &opts.except {
        if !except.contains(&room) {
            except.push(room);
        }
    }
    except
}

/// The flags a broadcast carries, in the order Node writes them (only those not at their
/// default).
fn flags_written(opts: &BroadcastOptions) -> impl Iterator<Item = (&'static str, Value)> {
    let timeout = opts.flags.timeout.map(|timeout| u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
    [
        opts.flags.volatile.then_some(("volatile", Value::Bool(true))),
        (!opts.flags.compress).then_some(("compress", Value::Bool(false))),
        timeout.map(|millis| ("timeout", Value::from(Number::from(millis)))),
    ]
    .into_iter()
    .flatten()
}

/// `MessagePack` of [`opts_to_value`]`(opts, true)`, written without building it.
fn write_opts(opts: &BroadcastOptions, out: &mut Vec<u8>) {
    msgpack::write_map_len(3, out);
    msgpack::write_str("rooms", out);
    msgpack::write_array_len(opts.rooms.len(), out);
    for room in &opts.rooms {
        msgpack::write_str(room, out);
    }
    let except = except_once(opts);
    msgpack::write_str("except", out);
    msgpack::write_array_len(except.len(), out);
    for room in except {
        msgpack::write_str(room, out);
    }
    msgpack::write_str("flags", out);
    let flags: Vec<(&str, Value)> = flags_written(opts).collect();
    msgpack::write_map_len(flags.len(), out);
    for (name, value) in &flags {
        msgpack::write_str(name, out);
        msgpack::write(value, out);
    }
}

/// JSON of [`opts_to_value`]`(opts, true)`, written without building it.
fn write_opts_json(opts: &BroadcastOptions, out: &mut Vec<u8>) {
    let rooms = |out: &mut Vec<u8>, rooms: &mut dyn Iterator<Item = &Arc<str>>| {
        out.push(b'[');
        for (i, room) in rooms.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            Value::write_json_string(room, out);
        }
        out.push(b']');
    };
    out.extend_from_slice(b"{\"rooms\":");
    rooms(out, &mut opts.rooms.iter());
    out.extend_from_slice(b",\"except\":");
    rooms(out, &mut except_once(opts).into_iter());
    out.extend_from_slice(b",\"flags\":{");
    for (i, (name, value)) in flags_written(opts).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        Value::write_json_string(name, out);
        out.push(b':');
        value.write_json(out);
    }
    out.extend_from_slice(b"}}");
}

fn opts_from_value(value: &Value) -> BroadcastOptions {
    let flags = value.get("flags");
    let flag = |name: &str| flags.and_then(|f| f.get(name)).and_then(Value::as_bool);
    BroadcastOptions {
        rooms: value.get("rooms").map(rooms_from_value).unwrap_or_default(),
        except: value.get("except").map(rooms_from_value).unwrap_or_default(),
        flags: BroadcastFlags {
            volatile: flag("volatile").unwrap_or(false),
            compress: flag("compress").unwrap_or(true),
            local: false,
            timeout: flags.and_then(|f| f.get("timeout")).and_then(Value::as_u64).map(Duration::from_millis),
        },
    }
}

/// socket.io-parser's packet object: `{type, data, nsp}` (and `id` when set).
pub fn packet_to_value(packet: &Packet) -> Value {
    packet_value_in(packet, &packet.namespace)
}

/// [`packet_to_value`] with `nsp` for the packet's namespace.
fn packet_value_in(packet: &Packet, nsp: &str) -> Value {
    let mut map = Map::with_capacity(4);
    map.insert("type", Value::from(Number::from(packet_type(packet) as u64)));
    if let Some(data) = &packet.data {
        map.insert("data", data.clone());
    }
    map.insert("nsp", Value::from(nsp));
    if let Some(id) = packet.id {
        map.insert("id", Value::from(Number::from(id)));
    }
    Value::Object(map)
}

/// Reads a packet object; a missing `nsp` is `/`, as in Node.
pub fn packet_from_value(value: Value) -> Result<Packet, WireError> {
    let Value::Object(map) = value else {
        return Err(WireError::Shape("a packet is an object"));
    };
    let mut fields = PacketFields::default();
    for (key, value) in map {
        fields.set(&key, value);
    }
    fields.packet()
}

fn json_or_msgpack(bytes: &[u8]) -> Result<Value, WireError> {
    if bytes.first() == Some(&b'{') {
        let text = std::str::from_utf8(bytes).map_err(|e| WireError::Json(e.to_string()))?;
        Value::from_json(text).map_err(|e| WireError::Json(e.to_string()))
    } else {
        from_msgpack(bytes)
    }
}

/// Writes `value` as notepack.io would.
pub fn to_msgpack(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    msgpack::write(value, &mut out);
    out
}

/// Reads `MessagePack`, nested at most [`MAX_DEPTH`] deep.
pub fn from_msgpack(bytes: &[u8]) -> Result<Value, WireError> {
    msgpack::read(bytes, MAX_DEPTH)
}

/// How deep a message may nest (socket.io-parser's JSON has the same order of limit).
pub const MAX_DEPTH: usize = 128;

/// The message types of socket.io-adapter's `ClusterAdapter` (2.5), which the log adapters
/// (Redis Streams, `JetStream`) write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MessageType {
    /// A node starts: the others answer with a heartbeat.
    InitialHeartbeat = 1,
    /// A node is alive.
    Heartbeat = 2,
    /// A broadcast: `{packet, opts}`.
    Broadcast = 3,
    /// Sockets join rooms: `{opts, rooms}`.
    SocketsJoin = 4,
    /// Sockets leave rooms: `{opts, rooms}`.
    SocketsLeave = 5,
    /// Sockets are disconnected: `{opts, close}`.
    DisconnectSockets = 6,
    /// `fetchSockets`: `{opts, requestId}`.
    FetchSockets = 7,
    /// The answer: `{requestId, sockets}`.
    FetchSocketsResponse = 8,
    /// `serverSideEmit`: `{packet, requestId?}`.
    ServerSideEmit = 9,
    /// Its answer: `{requestId, packet}`.
    ServerSideEmitResponse = 10,
    /// `{requestId, clientCount}`.
    BroadcastClientCount = 11,
    /// `{requestId, packet}`.
    BroadcastAck = 12,
    /// A node stops.
    AdapterClose = 13,
}

impl MessageType {
    /// The type for its number.
    pub fn from_number(n: u64) -> Option<Self> {
        Some(match n {
            1 => Self::InitialHeartbeat,
            2 => Self::Heartbeat,
            3 => Self::Broadcast,
            4 => Self::SocketsJoin,
            5 => Self::SocketsLeave,
            6 => Self::DisconnectSockets,
            7 => Self::FetchSockets,
            8 => Self::FetchSocketsResponse,
            9 => Self::ServerSideEmit,
            10 => Self::ServerSideEmitResponse,
            11 => Self::BroadcastClientCount,
            12 => Self::BroadcastAck,
            13 => Self::AdapterClose,
            _ => return None,
        })
    }
}

/// One message of a log adapter, as `@socket.io/redis-streams-adapter` lays out a stream
/// entry: fields `uid`, `nsp`, `type` (its number as text) and `data` (JSON text, or base64
/// of `MessagePack` when it holds binary), plus `seq`, the sending node's sequence number,
/// by which readers drop a message a node had to send twice (a publish whose answer was
/// lost is sent again).
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterMessage {
    /// The sending node.
    pub uid: String,
    /// The namespace.
    pub nsp: String,
    /// What it is.
    pub kind: MessageType,
    /// Its data.
    pub data: Option<Value>,
    /// The sender's sequence number (absent in messages of Node's adapter).
    pub seq: Option<u64>,
}

impl ClusterMessage {
    /// A message without data.
    pub fn new(uid: &str, nsp: &str, kind: MessageType) -> Self {
        Self { uid: uid.to_owned(), nsp: nsp.to_owned(), kind, data: None, seq: None }
    }

    /// A broadcast of `packet` to `opts`.
    pub fn broadcast(uid: &str, packet: &Packet, opts: &BroadcastOptions) -> Self {
        Self::broadcast_in(uid, &packet.namespace, packet, opts)
    }

    /// A broadcast of `packet` to `opts` in the namespace `nsp` (the packet's own is not
    /// read): the packet is not copied to change it.
    pub fn broadcast_in(uid: &str, nsp: &str, packet: &Packet, opts: &BroadcastOptions) -> Self {
        let mut data = Map::with_capacity(2);
        data.insert("packet", packet_value_in(packet, nsp));
        data.insert("opts", opts_to_value(opts, true));
        Self { data: Some(Value::Object(data)), ..Self::new(uid, nsp, MessageType::Broadcast) }
    }

    /// A join, leave or disconnect of the sockets `opts` aims at.
    pub fn sockets(
        uid: &str,
        nsp: &str,
        kind: MessageType,
        opts: &BroadcastOptions,
        rooms: &[Arc<str>],
        close: bool,
    ) -> Self {
        let mut data = Map::with_capacity(2);
        data.insert("opts", opts_to_value(opts, false));
        if kind == MessageType::DisconnectSockets {
            data.insert("close", Value::Bool(close));
        } else {
            data.insert("rooms", rooms_value(rooms));
        }
        Self { data: Some(Value::Object(data)), ..Self::new(uid, nsp, kind) }
    }

    /// A broadcast of `packet` to `opts` that waits for acknowledgements: answers go to
    /// `request_id`.
    pub fn broadcast_with_ack(uid: &str, packet: &Packet, opts: &BroadcastOptions, request_id: &str) -> Self {
        let mut data = Map::with_capacity(3);
        data.insert("packet", packet_to_value(packet));
        data.insert("requestId", Value::from(request_id));
        data.insert("opts", opts_to_value(opts, true));
        Self { data: Some(Value::Object(data)), ..Self::new(uid, &packet.namespace, MessageType::Broadcast) }
    }

    /// How many sockets of this node a broadcast with acknowledgements reached.
    pub fn broadcast_client_count(uid: &str, nsp: &str, request_id: &str, count: usize) -> Self {
        let mut data = Map::with_capacity(2);
        data.insert("requestId", Value::from(request_id));
        data.insert("clientCount", Value::from(Number::from(count as u64)));
        Self { data: Some(Value::Object(data)), ..Self::new(uid, nsp, MessageType::BroadcastClientCount) }
    }

    /// One socket's answer to a broadcast with acknowledgements (its first argument; none
    /// when it answered without).
    pub fn broadcast_ack(uid: &str, nsp: &str, request_id: &str, answer: Option<Value>) -> Self {
        let mut data = Map::with_capacity(2);
        data.insert("requestId", Value::from(request_id));
        if let Some(answer) = answer {
            data.insert("packet", answer);
        }
        Self { data: Some(Value::Object(data)), ..Self::new(uid, nsp, MessageType::BroadcastAck) }
    }

    /// The `clientCount` of a [`broadcast_client_count`](Self::broadcast_client_count).
    pub fn client_count(&self) -> usize {
        self.data
            .as_ref()
            .and_then(|d| d.get("clientCount"))
            .and_then(Value::as_u64)
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// `fetchSockets` for `opts`.
    pub fn fetch_sockets(uid: &str, nsp: &str, request_id: &str, opts: &BroadcastOptions) -> Self {
        let mut data = Map::with_capacity(2);
        data.insert("opts", opts_to_value(opts, false));
        data.insert("requestId", Value::from(request_id));
        Self { data: Some(Value::Object(data)), ..Self::new(uid, nsp, MessageType::FetchSockets) }
    }

    /// The answer to `fetchSockets` `request_id`.
    pub fn fetch_sockets_response(uid: &str, nsp: &str, request_id: &str, sockets: &[SocketInfo]) -> Self {
        let mut data = Map::with_capacity(2);
        data.insert("requestId", Value::from(request_id));
        data.insert("sockets", Value::Array(sockets.iter().map(socket_to_value).collect()));
        Self { data: Some(Value::Object(data)), ..Self::new(uid, nsp, MessageType::FetchSocketsResponse) }
    }

    /// `serverSideEmit`: `args` (the event name first), with `request_id` when answers are
    /// awaited.
    pub fn server_side_emit(uid: &str, nsp: &str, args: Vec<Value>, request_id: Option<&str>) -> Self {
        let mut data = Map::with_capacity(2);
        if let Some(id) = request_id {
            data.insert("requestId", Value::from(id));
        }
        data.insert("packet", Value::Array(args));
        Self { data: Some(Value::Object(data)), ..Self::new(uid, nsp, MessageType::ServerSideEmit) }
    }

    /// One server's answer to a `serverSideEmit`.
    pub fn server_side_emit_response(uid: &str, nsp: &str, request_id: &str, answer: Value) -> Self {
        let mut data = Map::with_capacity(2);
        data.insert("requestId", Value::from(request_id));
        data.insert("packet", answer);
        Self { data: Some(Value::Object(data)), ..Self::new(uid, nsp, MessageType::ServerSideEmitResponse) }
    }

    /// The `packet` of a server-side emit (its arguments) or of an answer.
    pub fn packet_value(&self) -> Option<&Value> {
        self.data.as_ref()?.get("packet")
    }

    /// The entry's fields.
    pub fn fields(&self) -> Vec<(&'static str, Vec<u8>)> {
        let mut fields = vec![
            ("uid", self.uid.as_bytes().to_vec()),
            ("nsp", self.nsp.as_bytes().to_vec()),
            ("type", (self.kind as u8).to_string().into_bytes()),
        ];
        if let Some(data) = &self.data {
            // JSON is read back only as an object or array: anything else, like binary, goes
            // as base64 `MessagePack`.
            let text = if data.has_binary() || !matches!(data, Value::Object(_) | Value::Array(_)) {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(to_msgpack(data))
            } else {
                data.to_json()
            };
            fields.push(("data", text.into_bytes()));
        }
        if let Some(seq) = self.seq {
            fields.push(("seq", seq.to_string().into_bytes()));
        }
        fields
    }

    /// Reads an entry's fields, a broadcast's packet and options in place when it can (the
    /// message's `data` is then `None`); anything else as [`from_fields`](Self::from_fields).
    pub fn from_fields_parts<'a>(
        field: impl Fn(&str) -> Option<&'a [u8]>,
    ) -> Result<(Self, Option<Box<BroadcastParts>>), WireError> {
        let broadcast = field("type") == Some(b"3");
        let parts = field("data")
            .filter(|data| broadcast && data.first() == Some(&b'{'))
            .and_then(|data| std::str::from_utf8(data).ok())
            .and_then(broadcast_json_in_place);
        match parts {
            Some(parts) => {
                let message = Self::from_fields(|name| if name == "data" { None } else { field(name) })?;
                Ok((message, Some(Box::new(parts))))
            }
            None => Ok((Self::from_fields(field)?, None)),
        }
    }

    /// Reads an entry's fields.
    pub fn from_fields<'a>(field: impl Fn(&str) -> Option<&'a [u8]>) -> Result<Self, WireError> {
        let text = |name: &str| field(name).and_then(|bytes| std::str::from_utf8(bytes).ok());
        let kind = text("type")
            .and_then(|t| t.parse().ok())
            .and_then(MessageType::from_number)
            .ok_or(WireError::Shape("an entry has a known type"))?;
        let data = match text("data") {
            None => None,
            Some(json) if json.starts_with('{') || json.starts_with('[') => {
                Some(Value::from_json(json).map_err(|e| WireError::Json(e.to_string()))?)
            }
            Some(encoded) => {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|e| WireError::MessagePack(e.to_string()))?;
                Some(from_msgpack(&bytes)?)
            }
        };
        Ok(Self {
            uid: text("uid").unwrap_or_default().to_owned(),
            nsp: text("nsp").unwrap_or("/").to_owned(),
            kind,
            data,
            seq: text("seq").and_then(|s| s.parse().ok()),
        })
    }

    /// The message in one `MessagePack` array, `[uid, nsp, type, seq, data]` (`nil` for a
    /// missing `seq` or `data`, binary values as `bin`): how the NATS adapters carry it. The
    /// layout is windlass's own (no Node adapter reads NATS); it costs a fraction of
    /// [`fields`](Self::fields) as headers and JSON, both ways.
    pub fn encode_compact(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.push(0x95);
        msgpack::write_str(&self.uid, &mut out);
        msgpack::write_str(&self.nsp, &mut out);
        msgpack::write_uint(self.kind as u64, &mut out);
        match self.seq {
            Some(seq) => msgpack::write_uint(seq, &mut out),
            None => out.push(msgpack::NIL),
        }
        match &self.data {
            Some(data) => msgpack::write(data, &mut out),
            None => out.push(msgpack::NIL),
        }
        out
    }

    /// Reads [`encode_compact`](Self::encode_compact). Items after the fifth are read and
    /// ignored. The data of a broadcast sent by `skip_broadcasts_of` is left unread (`None`),
    /// and what follows it too: a node that already delivered its own broadcasts reads back
    /// only their envelope (so such a message reads even if its data would not).
    pub fn decode_compact(bytes: &[u8], skip_broadcasts_of: Option<&str>) -> Result<Self, WireError> {
        Ok(Self::read_compact(bytes, skip_broadcasts_of, false)?.0)
    }

    /// [`decode_compact`](Self::decode_compact), a broadcast's packet and options read in
    /// place rather than built as a value (its `data` is then `None`): this runs for every
    /// broadcast a node receives over NATS. A broadcast of another shape (with a `requestId`,
    /// or not as windlass writes it) is read as a value, as `decode_compact` reads it.
    pub fn decode_compact_parts(
        bytes: &[u8],
        skip_broadcasts_of: Option<&str>,
    ) -> Result<(Self, Option<Box<BroadcastParts>>), WireError> {
        Self::read_compact(bytes, skip_broadcasts_of, true)
    }

    fn read_compact(
        bytes: &[u8],
        skip_broadcasts_of: Option<&str>,
        in_place: bool,
    ) -> Result<(Self, Option<Box<BroadcastParts>>), WireError> {
        let mut reader = msgpack::Reader::new(bytes, MAX_DEPTH);
        let len = match reader.array_len()? {
            Some(len) if len >= 5 => len,
            _ => return Err(WireError::Shape("a message is an array of five items")),
        };
        let text = |value: Value, what: &'static str| match value {
            Value::String(text) => Ok(text),
            _ => Err(WireError::Shape(what)),
        };
        let uid = text(reader.value(1)?, "a message's uid is a string")?;
        let nsp = text(reader.value(1)?, "a message's namespace is a string")?;
        let kind = reader
            .value(1)?
            .as_u64()
            .and_then(MessageType::from_number)
            .ok_or(WireError::Shape("a message has a known type"))?;
        let seq = match reader.value(1)? {
            Value::Null => None,
            number => Some(number.as_u64().ok_or(WireError::Shape("a message's seq is a number"))?),
        };
        if kind == MessageType::Broadcast && skip_broadcasts_of == Some(uid.as_str()) {
            return Ok((Self { uid, nsp, kind, data: None, seq }, None));
        }
        let data_at = reader.position();
        let mut parts = None;
        if in_place && kind == MessageType::Broadcast {
            parts = broadcast_in_place(&mut reader).map(Box::new);
            if parts.is_none() {
                reader.rewind(data_at);
            }
        }
        let data = match parts {
            Some(_) => None,
            None => match reader.value(1)? {
                Value::Null => None,
                data => Some(data),
            },
        };
        for _ in 5..len {
            reader.value(1)?;
        }
        Ok((Self { uid, nsp, kind, data, seq }, parts))
    }

    /// The message as Node's sharded Redis adapter (`createShardedAdapter`) publishes it:
    /// JSON `{type, data, uid, nsp}`, or `MessagePack` of the same when its data holds binary.
    pub fn encode_pubsub(&self) -> Vec<u8> {
        let mut map = Map::with_capacity(4);
        map.insert("type", Value::from(Number::from(self.kind as u64)));
        if let Some(data) = &self.data {
            map.insert("data", data.clone());
        }
        map.insert("uid", Value::from(self.uid.as_str()));
        map.insert("nsp", Value::from(self.nsp.as_str()));
        let message = Value::Object(map);
        if self.data.as_ref().is_some_and(Value::has_binary) {
            to_msgpack(&message)
        } else {
            message.to_json().into_bytes()
        }
    }

    /// Reads a message published by [`encode_pubsub`](Self::encode_pubsub) or by Node (JSON
    /// when it starts with `{`, `MessagePack` otherwise).
    pub fn decode_pubsub(bytes: &[u8]) -> Result<Self, WireError> {
        let Value::Object(mut map) = json_or_msgpack(bytes)? else {
            return Err(WireError::Shape("a cluster message is an object"));
        };
        let kind = map
            .get("type")
            .and_then(Value::as_u64)
            .and_then(MessageType::from_number)
            .ok_or(WireError::Shape("a cluster message has a known type"))?;
        let text = |map: &Map, key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            uid: text(&map, "uid").unwrap_or_default(),
            nsp: text(&map, "nsp").unwrap_or_else(|| "/".to_owned()),
            kind,
            data: map.remove("data"),
            seq: None,
        })
    }

    /// A broadcast's packet and options, taken out of the message (its data is not copied).
    pub fn into_broadcast_parts(self) -> Result<(Packet, BroadcastOptions), WireError> {
        let Some(Value::Object(mut data)) = self.data else {
            return Err(WireError::Shape("a broadcast's data is an object"));
        };
        let opts = data.get("opts").map(opts_from_value).unwrap_or_default();
        let packet = packet_from_value(data.remove("packet").unwrap_or_default())?;
        Ok((packet, opts))
    }

    /// A broadcast's packet and options.
    pub fn broadcast_parts(&self) -> Result<(Packet, BroadcastOptions), WireError> {
        let data = self.data.as_ref().ok_or(WireError::Shape("a broadcast has data"))?;
        let packet = packet_from_value(data.get("packet").cloned().unwrap_or_default())?;
        let opts = data.get("opts").map(opts_from_value).unwrap_or_default();
        Ok((packet, opts))
    }

    /// The `opts`, `rooms` and `close` of a join, leave or disconnect.
    pub fn sockets_parts(&self) -> (BroadcastOptions, Vec<Arc<str>>, bool) {
        let data = self.data.as_ref();
        let opts = data.and_then(|d| d.get("opts")).map(opts_from_value).unwrap_or_default();
        let rooms = data.and_then(|d| d.get("rooms")).map(rooms_from_value).unwrap_or_default();
        let close = data.and_then(|d| d.get("close")).and_then(Value::as_bool).unwrap_or(false);
        (opts, rooms, close)
    }

    /// The `requestId` of a request or an answer.
    pub fn request_id(&self) -> Option<&str> {
        self.data.as_ref()?.get("requestId")?.as_str()
    }

    /// The `sockets` of a `fetchSockets` answer.
    pub fn sockets_of_response(&self) -> Vec<SocketInfo> {
        self.data
            .as_ref()
            .and_then(|d| d.get("sockets"))
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(socket_from_value).collect())
            .unwrap_or_default()
    }
}

/// A session as a log adapter keeps it in the broker: Node's session fields (`pid`, `sid`,
/// `nsp`, `rooms`) plus the node that holds it and, once the socket has gone, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    /// The session.
    pub session: windlass::event_server::KeptSession,
    /// The node whose socket it is (or was).
    pub node: String,
    /// When the socket went away, in milliseconds since the Unix epoch; `None` while it is
    /// connected (or its node died with it).
    pub disconnected_at: Option<u64>,
}

impl StoredSession {
    /// As `MessagePack`.
    pub fn encode(&self) -> Vec<u8> {
        let mut map = Map::with_capacity(6);
        map.insert("pid", Value::from(&*self.session.pid));
        map.insert("sid", Value::from(&*self.session.id));
        map.insert("nsp", Value::from(&*self.session.namespace));
        map.insert("rooms", rooms_value(&self.session.rooms));
        map.insert("node", Value::from(self.node.as_str()));
        if let Some(at) = self.disconnected_at {
            map.insert("disconnectedAt", Value::from(Number::from(at)));
        }
        to_msgpack(&Value::Object(map))
    }

    /// Reads one.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let value = from_msgpack(bytes)?;
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(Arc::<str>::from);
        let session = windlass::event_server::KeptSession {
            pid: text("pid").ok_or(WireError::Shape("a session has a pid"))?,
            id: text("sid").ok_or(WireError::Shape("a session has a sid"))?,
            namespace: text("nsp").unwrap_or_else(|| Arc::from("/")),
            rooms: value.get("rooms").map(rooms_from_value).unwrap_or_default(),
        };
        Ok(Self {
            session,
            node: text("node").map(|n| n.to_string()).unwrap_or_default(),
            disconnected_at: value.get("disconnectedAt").and_then(Value::as_u64),
        })
    }
}

mod msgpack;
#[cfg(test)]
mod tests;
