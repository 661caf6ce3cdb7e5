//! `user_data` encoding: the user's operation kind, a slot and the slot's generation in 64
//! bits, so that a late completion for a slot that was reused is recognised. The driver
//! reserves two bits for itself (which operations own memory, which return a descriptor);
//! it never interprets the user's kind.

use std::fmt::Debug;

/// An operation kind of the driver's user (say, the server's `Recv` or the load
/// generator's `Connect`). The driver carries it through `user_data` untouched.
pub(crate) trait OpKind: Copy + Eq + Debug {
    /// A code below [`MAX_KIND_CODE`] + 1, distinct for each kind.
    fn code(self) -> u8;
    /// The kind a code stands for.
    fn from_code(code: u8) -> Option<Self>;
}

/// Kind codes take six bits.
pub(super) const MAX_KIND_CODE: u8 = 0x3F;

/// What the driver knows of a submission, in the top two bits of its `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// `user_data` is the user's token.
    Plain = 0,
    /// As `Plain`, and a successful completion carries a new descriptor.
    Accept = 1,
    /// `user_data` is a key into the ring's table of operations that own memory.
    Owned = 2,
    /// Fire-and-forget (cancel, close, shutdown): only failures complete, and are dropped.
    Ignore = 3,
}

const CLASS_SHIFT: u32 = 62;
const KIND_SHIFT: u32 = 56;
const GENERATION_SHIFT: u32 = 32;
const GENERATION_BITS: u32 = 24;

/// Which occupant of a slot an operation was for. Its user picks a new one for every new
/// occupant (the server and the load generator each step one counter per worker, so
/// every reuse of a slot gets a different one); it wraps at 2^24, so a stale completion
/// would need 16 million new occupants while it was pending to be mistaken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Generation(u32);

impl Generation {
    /// The generation after this one.
    pub(crate) fn next(self) -> Generation {
        Generation(self.0.wrapping_add(1) & ((1 << GENERATION_BITS) - 1))
    }
}

/// Names an operation: the user's kind, slot and generation.
///
/// INVARIANT: `kind.code() <= MAX_KIND_CODE` (checked in [`Token::new`]); the fields are
/// private so that nothing can build a token whose parts spill into each other's bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<K> {
    kind: K,
    slot: u32,
    generation: Generation,
}

impl<K: OpKind> Token<K> {
    /// A token for `kind` on `slot` in its `generation`.
    pub(crate) fn new(kind: K, slot: usize, generation: Generation) -> Token<K> {
        assert!(
            kind.code() <= MAX_KIND_CODE,
            "{kind:?}: kind codes take 6 bits"
        );
        let slot = u32::try_from(slot).expect("fewer than 2^32 slots");
        Token {
            kind,
            slot,
            generation,
        }
    }

    /// A token for an operation that belongs to no slot.
    pub(crate) fn global(kind: K) -> Token<K> {
        Token::new(kind, 0, Generation::default())
    }

    pub(crate) fn kind(&self) -> K {
        self.kind
    }

    pub(crate) fn slot(&self) -> usize {
        self.slot as usize
    }

    pub(crate) fn generation(&self) -> Generation {
        self.generation
    }

    pub(super) fn encode(self, class: Class) -> u64 {
        (class as u64) << CLASS_SHIFT
            | u64::from(self.kind.code()) << KIND_SHIFT
            | u64::from(self.generation.0) << GENERATION_SHIFT
            | u64::from(self.slot)
    }

    /// The token of a `Plain` or `Accept` submission.
    pub(super) fn decode(user_data: u64) -> Option<Token<K>> {
        let code = (user_data >> KIND_SHIFT) as u8 & MAX_KIND_CODE;
        let generation = (user_data >> GENERATION_SHIFT) as u32 & ((1 << GENERATION_BITS) - 1);
        Some(Token {
            kind: K::from_code(code)?,
            slot: user_data as u32,
            generation: Generation(generation),
        })
    }
}

/// The class of a submission's `user_data`.
pub(super) fn class_of(user_data: u64) -> Class {
    match user_data >> CLASS_SHIFT {
        0 => Class::Plain,
        1 => Class::Accept,
        2 => Class::Owned,
        _ => Class::Ignore,
    }
}

/// `user_data` for an entry of the owned-operation table.
pub(super) fn owned(key: usize) -> u64 {
    (Class::Owned as u64) << CLASS_SHIFT | u64::from(u32::try_from(key).expect("2^32 operations"))
}

/// `user_data` for a fire-and-forget operation.
pub(super) const IGNORE: u64 = (Class::Ignore as u64) << CLASS_SHIFT;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Op {
        A,
        B,
    }

    impl OpKind for Op {
        fn code(self) -> u8 {
            match self {
                Op::A => 1,
                Op::B => MAX_KIND_CODE,
            }
        }
        fn from_code(code: u8) -> Option<Op> {
            [Op::A, Op::B].into_iter().find(|op| op.code() == code)
        }
    }

    fn generation(n: u32) -> Generation {
        (0..n).fold(Generation::default(), |g, _| g.next())
    }

    #[test]
    fn round_trips_every_field_in_every_class() {
        for class in [Class::Plain, Class::Accept] {
            for kind in [Op::A, Op::B] {
                let token = Token::new(kind, 4_000_000_000, generation(0x00AB_CDEF & 0xFF));
                let user_data = token.encode(class);
                assert_eq!(class_of(user_data), class);
                assert_eq!(Token::decode(user_data), Some(token));
            }
        }
        assert_eq!(class_of(owned(7)), Class::Owned);
        assert_eq!(class_of(IGNORE), Class::Ignore);
    }

    #[test]
    fn generations_wrap_within_their_bits() {
        let last = Generation((1 << GENERATION_BITS) - 1);
        assert_eq!(last.next(), Generation(0));
        let token = Token::new(Op::B, 7, last);
        let decoded = Token::<Op>::decode(token.encode(Class::Plain)).unwrap();
        assert_eq!((decoded.slot(), decoded.generation()), (7, last));
        assert_eq!(
            decoded.kind(),
            Op::B,
            "a full generation leaves the kind alone"
        );
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        assert_eq!(Token::<Op>::decode(0), None);
    }
}
