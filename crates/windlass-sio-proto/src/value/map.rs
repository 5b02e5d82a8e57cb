//! [`Map`]: a JSON object with JavaScript's key order.

use super::Value;

/// The members of a JSON object, in the order a JavaScript object keeps them.
///
/// That order is insertion order, except that keys which are array indices (`"0"`, `"17"`, up
/// to `"4294967294"`, no leading zeros) come first in ascending numeric order: it is what
/// `JSON.stringify(JSON.parse(x))` prints, so a value echoed through windlass keeps the bytes a
/// Node server would send. Inserting an existing key replaces its value in place (JSON's
/// duplicate keys: the last one wins, at the first one's position).
///
/// Lookups are linear: objects in events are small. Parsing a large object stays
/// `O(n log n)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    entries: Vec<(String, Value)>,
}

/// An object of at most this many distinct keys, none an array index, keeps its keys in the
/// order written, without sorting.
pub(crate) const PLAIN_KEYS: usize = 16;

/// Whether `key` is a canonical array index, which JS objects order before other keys.
pub(crate) fn array_index(key: &str) -> Option<u32> {
    let bytes = key.as_bytes();
    if bytes.is_empty() || bytes.len() > 10 || (bytes.len() > 1 && bytes[0] == b'0') {
        return None;
    }
    if !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    key.parse::<u32>().ok().filter(|&n| n != u32::MAX)
}

impl Map {
    /// An empty object.
    pub const fn new() -> Self {
        Self { entries: Vec::new() }
    }

    /// An empty object with room for `capacity` members.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { entries: Vec::with_capacity(capacity) }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`, returning the previous value. A new key goes where a JS object
    /// would put it (see the type's documentation); an existing key keeps its position.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        let key = key.into();
        if let Some(slot) = self.get_mut(&key) {
            return Some(std::mem::replace(slot, value));
        }
        let at = match array_index(&key) {
            Some(index) => self
                .entries
                .iter()
                .position(|(k, _)| array_index(k).is_none_or(|other| other > index))
                .unwrap_or(self.entries.len()),
            None => self.entries.len(),
        };
        self.entries.insert(at, (key, value));
        None
    }

    /// Removes `key`, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(at).1)
    }

    /// The members in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The members in order, values mutable.
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&str, &mut Value)> {
        self.entries.iter_mut().map(|(k, v)| (k.as_str(), v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// The values in order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Builds an object from members in source order with `JSON.parse`'s rules, in
    /// `O(n log n)`: the last of duplicate keys wins at the first one's position, and array
    /// indices move to the front in numeric order.
    pub(crate) fn from_parsed(mut entries: Vec<(String, Value)>) -> Self {
        // The common case, a few distinct names: kept as given, without sorting (every object
        // of every packet parsed comes here).
        let plain = entries.len() <= PLAIN_KEYS
            && entries.iter().enumerate().all(|(i, (key, _))| {
                array_index(key).is_none() && entries[..i].iter().all(|(other, _)| other != key)
            });
        if !plain {
            let mut order: Vec<usize> = (0..entries.len()).collect();
            order.sort_by(|&a, &b| entries[a].0.cmp(&entries[b].0).then(a.cmp(&b)));
            let mut dead = vec![false; entries.len()];
            let mut moves = Vec::new();
            for group in order.chunk_by(|&a, &b| entries[a].0 == entries[b].0) {
                if let [first, .., last] = *group {
                    moves.push((first, last));
                    for &later in &group[1..] {
                        dead[later] = true;
                    }
                }
            }
            let any_dead = !moves.is_empty();
            for (first, last) in moves {
                entries[first].1 = std::mem::take(&mut entries[last].1);
            }
            if any_dead {
                let mut index = 0;
                entries.retain(|_| {
                    index += 1;
                    !dead[index - 1]
                });
            }
            // Stable: the non-index keys keep their order.
            entries.sort_by_key(|(k, _)| array_index(k).map_or(u64::MAX, u64::from));
        }
        Self { entries }
    }
}

impl FromIterator<(String, Value)> for Map {
    /// The members as [`insert`](Self::insert) one after the other would leave them, in
    /// `O(n log n)`: inserting looks each key up among the others, which a hostile object of
    /// 100,000 keys would make quadratic.
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self::from_parsed(iter.into_iter().collect())
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a str, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Value)>,
        fn(&'a (String, Value)) -> (&'a str, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}
