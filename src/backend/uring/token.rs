//! `user_data` encoding: operation kind, connection slot and slot generation in 64 bits,
//! so that a late completion for a slot that was reused is recognised and dropped.

/// What a submission was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Accept = 1,
    Recv = 2,
    Send = 3,
    Timer = 4,
    Wake = 5,
    /// Fire-and-forget (cancel, close, shutdown): only failures complete, and are ignored.
    Ignore = 6,
    /// An outgoing connection (the load generator).
    Connect = 7,
}

/// Generations wrap at 2^24: a stale completion would need a slot reused 16 million
/// times while it was pending.
pub const GEN_MASK: u32 = (1 << 24) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub slot: u32,
    pub generation: u32,
}

impl Token {
    pub fn new(kind: Kind, slot: usize, generation: u32) -> Token {
        let slot = u32::try_from(slot).expect("fewer than 2^32 connections per worker");
        Token {
            kind,
            slot,
            generation: generation & GEN_MASK,
        }
    }

    /// A token for an operation that belongs to no connection.
    pub fn global(kind: Kind) -> Token {
        Token {
            kind,
            slot: 0,
            generation: 0,
        }
    }

    pub fn encode(self) -> u64 {
        (self.kind as u64) << 56 | u64::from(self.generation) << 32 | u64::from(self.slot)
    }

    pub fn decode(user_data: u64) -> Option<Token> {
        let kind = match user_data >> 56 {
            1 => Kind::Accept,
            2 => Kind::Recv,
            3 => Kind::Send,
            4 => Kind::Timer,
            5 => Kind::Wake,
            6 => Kind::Ignore,
            7 => Kind::Connect,
            _ => return None,
        };
        let generation = (user_data >> 32) as u32 & GEN_MASK;
        Some(Token {
            kind,
            slot: user_data as u32,
            generation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field() {
        for kind in [
            Kind::Accept,
            Kind::Recv,
            Kind::Send,
            Kind::Timer,
            Kind::Wake,
            Kind::Ignore,
            Kind::Connect,
        ] {
            let token = Token::new(kind, 4_000_000_000, 0x00AB_CDEF);
            assert_eq!(Token::decode(token.encode()), Some(token));
        }
    }

    #[test]
    fn generations_wrap_within_their_bits() {
        let token = Token::new(Kind::Recv, 7, GEN_MASK + 2);
        assert_eq!(
            Token::decode(token.encode()).map(|t| (t.slot, t.generation)),
            Some((7, 1))
        );
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        assert_eq!(Token::decode(0), None);
        assert_eq!(Token::decode(0xFF << 56), None);
    }
}
