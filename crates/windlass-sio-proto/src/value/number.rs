//! [`Number`]: a JS number that keeps Rust integers exact.

use std::fmt;

/// The largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A number in a [`Value`](crate::Value).
///
/// JavaScript has one number type, an IEEE double. Integers within ±2^53 are held exactly as
/// integers (so `1.0` parsed from JSON and `1u8` from Rust are the same `Number`); so are Rust
/// integers beyond that range, which a JS peer would round but a Rust peer may need exactly.
/// Everything else is an `f64`. [`Display`](fmt::Display) prints what JS `String(n)` and
/// `JSON.stringify` print (`1e+21`, `0.30000000000000004`, `-0` as `0`), except that
/// non-finite numbers print `null`, as `JSON.stringify` does.
#[derive(Clone, Copy)]
pub struct Number(Repr);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Repr {
    Int(i64),
    // Only above i64::MAX.
    UInt(u64),
    // Only non-integral, beyond ±2^53, or not finite.
    Float(f64),
}

impl Number {
    /// The number as an `i64`, if it is an integer in range.
    pub fn as_i64(self) -> Option<i64> {
        match self.0 {
            Repr::Int(n) => Some(n),
            Repr::UInt(_) => None,
            Repr::Float(f) => float_as_int(f).and_then(|n| i64::try_from(n).ok()),
        }
    }

    /// The number as a `u64`, if it is a non-negative integer in range.
    pub fn as_u64(self) -> Option<u64> {
        match self.0 {
            Repr::Int(n) => u64::try_from(n).ok(),
            Repr::UInt(n) => Some(n),
            Repr::Float(f) => float_as_int(f).and_then(|n| u64::try_from(n).ok()),
        }
    }

    /// The number as an `f64` (rounded, as JS would, for integers beyond 2^53).
    #[allow(clippy::cast_precision_loss)]
    pub fn as_f64(self) -> f64 {
        match self.0 {
            Repr::Int(n) => n as f64,
            Repr::UInt(n) => n as f64,
            Repr::Float(f) => f,
        }
    }

    /// Whether the number is held as an exact integer.
    pub fn is_integer(self) -> bool {
        !matches!(self.0, Repr::Float(_))
    }

    /// Whether the number is finite (JSON has no NaN or infinity: they print `null`).
    pub fn is_finite(self) -> bool {
        match self.0 {
            Repr::Float(f) => f.is_finite(),
            _ => true,
        }
    }
}

// An integral float within i128, for the accessors.
#[allow(clippy::cast_possible_truncation, clippy::float_cmp)]
fn float_as_int(f: f64) -> Option<i128> {
    (f.is_finite() && f.trunc() == f && f.abs() < 1.7e38).then_some(f as i128)
}

impl From<f64> for Number {
    #[allow(clippy::float_cmp, clippy::cast_precision_loss)]
    fn from(f: f64) -> Self {
        // Integral doubles in the exact range become integers, so `1.0 == 1` and `-0.0 == 0`,
        // matching what JSON round trips through JS make of them.
        if f.is_finite() && f.trunc() == f && f.abs() <= MAX_SAFE_INTEGER as f64 + 1.0 {
            #[allow(clippy::cast_possible_truncation)]
            return Self(Repr::Int(f as i64));
        }
        Self(Repr::Float(f))
    }
}

impl From<f32> for Number {
    fn from(f: f32) -> Self {
        Self::from(f64::from(f))
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Self {
        Self(Repr::Int(n))
    }
}

impl From<u64> for Number {
    fn from(n: u64) -> Self {
        match i64::try_from(n) {
            Ok(n) => Self(Repr::Int(n)),
            Err(_) => Self(Repr::UInt(n)),
        }
    }
}

macro_rules! from_small_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(n: $t) -> Self {
                Self(Repr::Int(i64::from(n)))
            }
        }
    )*};
}
from_small_int!(i8, i16, i32, u8, u16, u32);

impl From<usize> for Number {
    fn from(n: usize) -> Self {
        Self::from(n as u64)
    }
}

impl From<isize> for Number {
    fn from(n: isize) -> Self {
        Self::from(n as i64)
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Int(n) => fmt::Display::fmt(&n, f),
            Repr::UInt(n) => fmt::Display::fmt(&n, f),
            Repr::Float(x) if x.is_finite() => f.write_str(ryu_js::Buffer::new().format_finite(x)),
            Repr::Float(_) => f.write_str("null"),
        }
    }
}
