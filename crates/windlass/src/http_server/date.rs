//! The `Date` header every answer carries (RFC 9110 §6.6.1: an origin server with a clock
//! sends one), formatted once per second per thread rather than once per response.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;

thread_local! {
    /// The second last formatted, and its text.
    static CACHED: RefCell<(u64, HeaderValue)> = const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
}

/// Calls `f` with now as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), without copying
/// it.
pub(crate) fn with_now<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    with_cached(|value| f(value.as_bytes()))
}

fn with_cached<R>(f: impl FnOnce(&HeaderValue) -> R) -> R {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != second {
            let text = httpdate::fmt_http_date(now);
            // The formatter writes ASCII letters, digits, spaces, commas and colons only.
            let value = HeaderValue::from_maybe_shared(Bytes::from(text))
                .unwrap_or_else(|_| HeaderValue::from_static(""));
            *cached = (second, value);
        }
        f(&cached.1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_is_an_imf_fixdate_of_now() {
        let text = with_now(|date| String::from_utf8(date.to_vec()).unwrap());
        let text = text.as_str();
        assert_eq!(text.len(), 29, "{text}");
        assert!(text.ends_with(" GMT"), "{text}");
        let parsed = httpdate::parse_http_date(text).unwrap();
        let age = SystemTime::now().duration_since(parsed).unwrap_or_default();
        assert!(age.as_secs() <= 1, "{text} is {age:?} old");
    }
}
