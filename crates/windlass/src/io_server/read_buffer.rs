//! Read buffers lent to connections only while they have bytes to decode.
//!
//! An idle connection holds no read buffer: when a read finds nothing, or its bytes are all
//! decoded, the connection's buffer goes back to a per-thread spare and the next connection
//! with input on that thread reads into it. Memory for reading therefore follows the
//! connections that are busy at the same moment on a thread, not the number of connections.
//! A buffer with undecoded bytes (half a frame) stays with its connection.

use std::cell::Cell;

use bytes::BytesMut;

/// Spares bigger than this are freed rather than kept for the next reader.
const MAX_SPARE: usize = 64 * 1024;

thread_local! {
    static SPARE: Cell<Option<BytesMut>> = const { Cell::new(None) };
}

/// This thread's spare buffer, or a new one of `capacity`.
pub(crate) fn borrow(capacity: usize) -> BytesMut {
    SPARE.with(Cell::take).unwrap_or_else(|| BytesMut::with_capacity(capacity))
}

/// Gives `buf` back if it holds no bytes; otherwise the connection keeps it. Either way `buf`
/// is left empty or with the undecoded bytes.
pub(crate) fn give_back(buf: &mut BytesMut) {
    if !buf.is_empty() || buf.capacity() == 0 {
        return;
    }
    let buf = std::mem::take(buf);
    if buf.capacity() <= MAX_SPARE {
        // Whichever buffer was there before is freed: one spare per thread is enough, as a
        // thread serves one connection at a time.
        SPARE.with(|spare| spare.set(Some(buf)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_buffer_is_lent_to_the_next_reader() {
        let mut first = borrow(4096);
        let address = first.as_ptr();
        first.extend_from_slice(b"frame");
        give_back(&mut first);
        assert_eq!(&first[..], b"frame", "a buffer with bytes stays with its connection");
        first.clear();
        give_back(&mut first);
        assert_eq!(first.capacity(), 0, "an empty buffer goes back");
        let second = borrow(4096);
        assert_eq!(second.as_ptr(), address, "the next reader gets the same memory");
        assert!(second.capacity() >= 4096);
    }

    #[test]
    fn oversized_buffers_are_freed_not_kept() {
        let _ = borrow(16);
        let mut big = BytesMut::with_capacity(MAX_SPARE * 2);
        give_back(&mut big);
        assert_eq!(big.capacity(), 0);
        assert!(borrow(16).capacity() < MAX_SPARE * 2);
    }
}
