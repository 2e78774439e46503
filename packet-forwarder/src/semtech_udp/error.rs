use super::header::Identifier;

/// Why a datagram was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than the packet type's fixed part (the 4-byte header, or
    /// the 12 bytes of a header with gateway EUI).
    #[error("truncated {what}: {len} bytes, need at least {need}")]
    Truncated {
        /// What was being read: `"header"` or the packet type's name.
        what: &'static str,
        /// Bytes received.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The version byte is neither 1 nor 2.
    #[error("unknown protocol version {0}")]
    UnknownVersion(u8),
    /// The identifier byte names no GWMP packet type.
    #[error("unknown packet identifier 0x{0:02x}")]
    UnknownIdentifier(u8),
    /// `parse` of one packet type was given a datagram of another type.
    #[error("expected {expected}, got {actual}")]
    WrongIdentifier {
        /// The type the caller asked for.
        expected: Identifier,
        /// The type on the wire.
        actual: Identifier,
    },
    /// A fixed-size packet (PUSH_ACK, PULL_ACK, PULL_DATA) carries extra bytes.
    #[error("{identifier} has {extra} trailing bytes")]
    TrailingBytes {
        /// The packet type.
        identifier: Identifier,
        /// How many bytes follow the fixed part.
        extra: usize,
    },
    /// The JSON body is not valid for the packet type; `message` is serde's.
    #[error("bad {identifier} JSON: {message}")]
    Json {
        /// The packet type.
        identifier: Identifier,
        /// serde_json's description, with line and column.
        message: String,
    },
}
