//! The two bit sets of the API: what a registration asks for ([`Interest`]) and
//! what a wait reports ([`Readiness`]). Their values are those of the C header.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

macro_rules! bitset {
    ($name:ident, $all:expr, [$($flag:ident => $text:literal),* $(,)?]) => {
        impl $name {
            /// The empty set.
            pub const fn empty() -> Self {
                $name(0)
            }

            /// The set of every bit this type defines.
            pub const fn all() -> Self {
                $name($all)
            }

            /// The bits, as the C header spells them.
            pub const fn bits(self) -> u32 {
                self.0
            }

            /// The set with these bits, or `None` if any bit is unknown.
            pub const fn from_bits(bits: u32) -> Option<Self> {
                if bits & !$all == 0 {
                    Some($name(bits))
                } else {
                    None
                }
            }

            /// The set with these bits, dropping the unknown ones.
            pub const fn from_bits_truncate(bits: u32) -> Self {
                $name(bits & $all)
            }

            /// Whether every bit of `other` is in `self`.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// Whether `self` and `other` share a bit.
            pub const fn intersects(self, other: Self) -> bool {
                self.0 & other.0 != 0
            }

            /// Whether no bit is set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            /// `self` without the bits of `other`.
            pub const fn remove(self, other: Self) -> Self {
                $name(self.0 & !other.0)
            }
        }

        impl BitOr for $name {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                $name(self.0 | rhs.0)
            }
        }

        impl BitOrAssign for $name {
            fn bitor_assign(&mut self, rhs: Self) {
                self.0 |= rhs.0;
            }
        }

        impl BitAnd for $name {
            type Output = Self;
            fn bitand(self, rhs: Self) -> Self {
                $name(self.0 & rhs.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut first = true;
                f.write_str(concat!(stringify!($name), "("))?;
                $(
                    if self.contains($name::$flag) {
                        if !first {
                            f.write_str(" | ")?;
                        }
                        f.write_str($text)?;
                        first = false;
                    }
                )*
                if first {
                    f.write_str("empty")?;
                }
                f.write_str(")")
            }
        }
    };
}

/// What a registration asks to be told about, and how.
///
/// Combine the conditions (`READABLE`, `WRITABLE`, `PRIORITY`) with at most the
/// modes `ONESHOT` and `EDGE`. An empty interest is allowed: the fd stays
/// registered but is disarmed until [`Poller::modify`](crate::Poller::modify)
/// arms it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u32);

impl Interest {
    /// Data can be read (`POLLIN`).
    pub const READABLE: Interest = Interest(0x01);
    /// Data can be written (`POLLOUT`).
    pub const WRITABLE: Interest = Interest(0x02);
    /// Urgent data can be read (`POLLPRI`). Refused with `ENOTSUP` by kqueue.
    pub const PRIORITY: Interest = Interest(0x04);
    /// Report at most once, then disarm until the next `modify`.
    pub const ONESHOT: Interest = Interest(0x100);
    /// Report when the condition becomes true rather than while it holds.
    /// Only epoll and kqueue have it; the others refuse it with `ENOTSUP`.
    pub const EDGE: Interest = Interest(0x200);

    /// Both `READABLE` and `WRITABLE`.
    pub const BOTH: Interest = Interest(0x03);

    pub(crate) const CONDITIONS: Interest = Interest(0x07);

    /// The condition bits alone, without the modes.
    pub const fn conditions(self) -> Readiness {
        Readiness(self.0 & Self::CONDITIONS.0)
    }

    /// Whether `ONESHOT` is set.
    pub const fn is_oneshot(self) -> bool {
        self.0 & Self::ONESHOT.0 != 0
    }

    /// Whether `EDGE` is set.
    pub const fn is_edge(self) -> bool {
        self.0 & Self::EDGE.0 != 0
    }
}

bitset!(Interest, 0x307, [
    READABLE => "READABLE",
    WRITABLE => "WRITABLE",
    PRIORITY => "PRIORITY",
    ONESHOT => "ONESHOT",
    EDGE => "EDGE",
]);

/// What a wait found an fd ready for.
///
/// `ERROR` and `HANGUP` are reported for an armed fd whenever they hold, whether
/// the interest asked for them or not; the other bits only when asked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Readiness(u32);

impl Readiness {
    /// Data can be read, or the peer closed its end (the read returns 0).
    pub const READABLE: Readiness = Readiness(0x01);
    /// Data can be written.
    pub const WRITABLE: Readiness = Readiness(0x02);
    /// Urgent data can be read.
    pub const PRIORITY: Readiness = Readiness(0x04);
    /// An error is pending on the fd (`POLLERR`), or the fd was closed while
    /// registered (`POLLNVAL`, on poll and select).
    pub const ERROR: Readiness = Readiness(0x08);
    /// The fd was hung up (`POLLHUP`). select cannot see it: it reports the fd
    /// readable instead.
    pub const HANGUP: Readiness = Readiness(0x10);

    /// The bits reported whatever the interest.
    pub(crate) const ALWAYS: Readiness = Readiness(0x18);
}

bitset!(Readiness, 0x1f, [
    READABLE => "READABLE",
    WRITABLE => "WRITABLE",
    PRIORITY => "PRIORITY",
    ERROR => "ERROR",
    HANGUP => "HANGUP",
]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_bits_are_refused() {
        assert_eq!(Interest::from_bits(0x08), None);
        assert_eq!(Interest::from_bits(0x400), None);
        assert_eq!(
            Interest::from_bits(0x301),
            Some(Interest::READABLE | Interest::ONESHOT | Interest::EDGE)
        );
        assert_eq!(Readiness::from_bits(0x20), None);
    }

    #[test]
    fn conditions_drop_the_modes() {
        let i = Interest::BOTH | Interest::ONESHOT;
        assert_eq!(i.conditions(), Readiness::READABLE | Readiness::WRITABLE);
        assert!(i.is_oneshot());
        assert!(!i.is_edge());
    }

    #[test]
    fn debug_names_the_bits() {
        let text = format!("{:?}", Interest::READABLE | Interest::ONESHOT);
        assert_eq!(text, "Interest(READABLE | ONESHOT)");
        assert_eq!(format!("{:?}", Readiness::empty()), "Readiness(empty)");
    }
}
