//! Identifiers and counters: `DevAddr`, `NetId`, `Eui64`, `DevNonce`, `JoinNonce`, `FCnt`.
//!
//! Every identifier is stored in the order people write it (most significant byte
//! first) and converted to the little-endian wire order only by the `*_le_bytes`
//! methods, which is where the frame codec meets it.

use crate::hex::hex_text;

/// A 32-bit device address.
///
/// The top bits carry the address-prefix of the NetID type that assigned it
/// (LoRaWAN Backend Interfaces, §13): `0` for type 0, `10` for type 1, … `11111110`
/// for type 7, followed by the NwkID and the NwkAddr.
///
/// ```
/// use lorawan::{DevAddr, NetId};
/// let addr: DevAddr = "26011bda".parse().unwrap();
/// assert_eq!(addr.net_id_type(), Some(0));
/// assert_eq!(addr.nwk_id(), Some(0x13));
/// assert!(addr.is_net_id(NetId::from_u32(0x000013).unwrap()));
/// assert_eq!(addr.to_le_bytes(), [0xda, 0x1b, 0x01, 0x26]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DevAddr([u8; 4]);

/// (prefix length, NwkID bits, NwkAddr bits) for NetID types 0 to 7.
const DEVADDR_LAYOUT: [(u32, u32, u32); 8] = [
    (1, 6, 25),
    (2, 6, 24),
    (3, 9, 20),
    (4, 11, 17),
    (5, 12, 15),
    (6, 13, 13),
    (7, 15, 10),
    (8, 17, 7),
];

impl DevAddr {
    /// The address from its four bytes, most significant first.
    pub const fn from_be_bytes(b: [u8; 4]) -> Self {
        Self(b)
    }
    /// The four bytes, most significant first.
    pub const fn to_be_bytes(self) -> [u8; 4] {
        self.0
    }
    /// The address from its wire (little-endian) bytes.
    pub const fn from_le_bytes(b: [u8; 4]) -> Self {
        Self([b[3], b[2], b[1], b[0]])
    }
    /// The wire (little-endian) bytes.
    pub const fn to_le_bytes(self) -> [u8; 4] {
        let b = self.0;
        [b[3], b[2], b[1], b[0]]
    }
    /// The address as a number.
    pub const fn from_u32(v: u32) -> Self {
        Self(v.to_be_bytes())
    }
    /// The address as a number.
    pub const fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }

    /// The NetID type (0 to 7) encoded in the address prefix, or `None` for the
    /// reserved prefix `11111111`.
    pub const fn net_id_type(self) -> Option<u8> {
        let ones = self.0[0].leading_ones();
        if ones >= 8 { None } else { Some(ones as u8) }
    }

    /// The NwkID bits that follow the type prefix, or `None` for a reserved prefix.
    pub const fn nwk_id(self) -> Option<u32> {
        match self.net_id_type() {
            Some(t) => {
                let (_, id_bits, addr_bits) = DEVADDR_LAYOUT[t as usize];
                Some((self.to_u32() >> addr_bits) & ((1 << id_bits) - 1))
            }
            None => None,
        }
    }

    /// The NwkAddr bits (the part a network assigns freely), or `None` for a reserved prefix.
    pub const fn nwk_addr(self) -> Option<u32> {
        match self.net_id_type() {
            Some(t) => {
                let (_, _, addr_bits) = DEVADDR_LAYOUT[t as usize];
                Some(self.to_u32() & ((1 << addr_bits) - 1))
            }
            None => None,
        }
    }

    /// Whether this address belongs to the address block of `net_id`: same type
    /// prefix and a NwkID equal to the NetID's least significant NwkID bits.
    pub const fn is_net_id(self, net_id: NetId) -> bool {
        match (self.net_id_type(), self.nwk_id()) {
            (Some(t), Some(id)) => t == net_id.net_id_type() && id == net_id.nwk_id(),
            _ => false,
        }
    }

    /// The address prefix (type prefix and NwkID) of `net_id` with `nwk_addr` in
    /// the remaining bits (excess high bits of `nwk_addr` are dropped).
    pub const fn from_net_id(net_id: NetId, nwk_addr: u32) -> Self {
        let t = net_id.net_id_type() as usize;
        let (_, _, addr_bits) = DEVADDR_LAYOUT[t];
        // `t` leading ones followed by a zero.
        let type_prefix = (0xffu32 << (8 - t)) & 0xff;
        let prefix = (type_prefix << 24) | (net_id.nwk_id() << addr_bits);
        Self::from_u32(prefix | (nwk_addr & ((1u32 << addr_bits) - 1)))
    }
}

hex_text!(DevAddr, 4);

impl core::fmt::Debug for DevAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DevAddr({self})")
    }
}

/// A 24-bit network identifier.
///
/// ```
/// use lorawan::NetId;
/// let id: NetId = "600013".parse().unwrap();
/// assert_eq!(id.net_id_type(), 3);
/// assert_eq!(id.nwk_id(), 0x13);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NetId([u8; 3]);

impl NetId {
    /// The NetID from its three bytes, most significant first.
    pub const fn from_be_bytes(b: [u8; 3]) -> Self {
        Self(b)
    }
    /// The three bytes, most significant first.
    pub const fn to_be_bytes(self) -> [u8; 3] {
        self.0
    }
    /// The NetID from its wire (little-endian) bytes, as in a join-accept.
    pub const fn from_le_bytes(b: [u8; 3]) -> Self {
        Self([b[2], b[1], b[0]])
    }
    /// The wire (little-endian) bytes.
    pub const fn to_le_bytes(self) -> [u8; 3] {
        [self.0[2], self.0[1], self.0[0]]
    }
    /// The NetID from a number; `None` if it does not fit in 24 bits.
    pub const fn from_u32(v: u32) -> Option<Self> {
        if v > 0xff_ffff {
            return None;
        }
        let b = v.to_be_bytes();
        Some(Self([b[1], b[2], b[3]]))
    }
    /// The NetID as a number.
    pub const fn to_u32(self) -> u32 {
        u32::from_be_bytes([0, self.0[0], self.0[1], self.0[2]])
    }
    /// The type, the three most significant bits.
    pub const fn net_id_type(self) -> u8 {
        self.0[0] >> 5
    }
    /// The NetID without its type bits: 21 bits for types 3 to 7, and for types 0
    /// to 2 the 6 or 9 bits that are defined (the other bits are RFU).
    pub const fn id(self) -> u32 {
        self.to_u32() & 0x1f_ffff
    }
    /// The NwkID that a DevAddr of this NetID carries: the least significant 6, 6,
    /// 9, 11, 12, 13, 15 or 17 bits of the ID, by type.
    pub const fn nwk_id(self) -> u32 {
        let (_, id_bits, _) = DEVADDR_LAYOUT[self.net_id_type() as usize];
        self.to_u32() & ((1 << id_bits) - 1)
    }
}

hex_text!(NetId, 3);

impl core::fmt::Debug for NetId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "NetId({self})")
    }
}

/// An IEEE EUI-64: a DevEUI or a JoinEUI (AppEUI in LoRaWAN 1.0).
///
/// ```
/// use lorawan::Eui64;
/// let eui: Eui64 = "0102030405060708".parse().unwrap();
/// assert_eq!(eui.to_le_bytes(), [8, 7, 6, 5, 4, 3, 2, 1]);
/// assert_eq!(eui.to_string(), "0102030405060708");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Eui64([u8; 8]);

impl Eui64 {
    /// The EUI from its bytes, most significant first.
    pub const fn from_be_bytes(b: [u8; 8]) -> Self {
        Self(b)
    }
    /// The bytes, most significant first.
    pub const fn to_be_bytes(self) -> [u8; 8] {
        self.0
    }
    /// The EUI from its wire (little-endian) bytes.
    pub const fn from_le_bytes(mut b: [u8; 8]) -> Self {
        // `reverse` is not const; swap by hand.
        let mut i = 0;
        while i < 4 {
            let t = b[i];
            b[i] = b[7 - i];
            b[7 - i] = t;
            i += 1;
        }
        Self(b)
    }
    /// The wire (little-endian) bytes.
    pub const fn to_le_bytes(self) -> [u8; 8] {
        Self::from_le_bytes(self.0).0
    }
    /// The EUI as a number.
    pub const fn from_u64(v: u64) -> Self {
        Self(v.to_be_bytes())
    }
    /// The EUI as a number.
    pub const fn to_u64(self) -> u64 {
        u64::from_be_bytes(self.0)
    }
}

hex_text!(Eui64, 8);

impl core::fmt::Debug for Eui64 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Eui64({self})")
    }
}

/// The 16-bit nonce a device sends in a join-request (a counter since LoRaWAN 1.0.4 and 1.1).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct DevNonce(pub u16);

impl DevNonce {
    /// The nonce from its wire (little-endian) bytes.
    pub const fn from_le_bytes(b: [u8; 2]) -> Self {
        Self(u16::from_le_bytes(b))
    }
    /// The wire (little-endian) bytes.
    pub const fn to_le_bytes(self) -> [u8; 2] {
        self.0.to_le_bytes()
    }
    /// The nonce from its bytes, most significant first (as in `--dev-nonce 0102`).
    pub const fn from_be_bytes(b: [u8; 2]) -> Self {
        Self(u16::from_be_bytes(b))
    }
    /// The bytes, most significant first.
    pub const fn to_be_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
}

hex_text!(DevNonce, 2);

/// The 24-bit nonce a join server puts in a join-accept (AppNonce in LoRaWAN 1.0).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct JoinNonce([u8; 3]);

impl JoinNonce {
    /// The nonce from a number; `None` if it does not fit in 24 bits.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match NetId::from_u32(v) {
            Some(n) => Some(Self(n.to_be_bytes())),
            None => None,
        }
    }
    /// The nonce as a number.
    pub const fn to_u32(self) -> u32 {
        u32::from_be_bytes([0, self.0[0], self.0[1], self.0[2]])
    }
    /// The nonce from its bytes, most significant first.
    pub const fn from_be_bytes(b: [u8; 3]) -> Self {
        Self(b)
    }
    /// The bytes, most significant first.
    pub const fn to_be_bytes(self) -> [u8; 3] {
        self.0
    }
    /// The nonce from its wire (little-endian) bytes.
    pub const fn from_le_bytes(b: [u8; 3]) -> Self {
        Self([b[2], b[1], b[0]])
    }
    /// The wire (little-endian) bytes.
    pub const fn to_le_bytes(self) -> [u8; 3] {
        [self.0[2], self.0[1], self.0[0]]
    }
}

hex_text!(JoinNonce, 3);

/// Frame-counter helpers: the frame carries the 16 least significant bits of a
/// 32-bit counter, which the receiver reconstructs.
#[derive(Debug, Clone, Copy)]
pub struct FCnt;

impl FCnt {
    /// Reconstructs the full 32-bit counter from the 16 bits in a frame, given the
    /// counter value the receiver expects next (e.g. the last FCntUp plus one).
    ///
    /// The result is the first counter at or after `next_expected` whose low 16 bits
    /// are `received`, except that a repetition of the previous frame
    /// (`received == next_expected - 1` in 16 bits) maps to `next_expected - 1`, so
    /// that a retransmission is recognised rather than taken for a jump of 65 535.
    /// Arithmetic wraps at 2³².
    ///
    /// ```
    /// use lorawan::FCnt;
    /// assert_eq!(FCnt::reconstruct(10, 12), 12);
    /// assert_eq!(FCnt::reconstruct(0x1_fffe, 0x0001), 0x2_0001); // rolled over 16 bits
    /// assert_eq!(FCnt::reconstruct(0x2_0000, 0xffff), 0x1_ffff); // retransmission
    /// ```
    pub const fn reconstruct(next_expected: u32, received: u16) -> u32 {
        let previous = next_expected.wrapping_sub(1);
        if received == previous as u16 {
            return previous;
        }
        let gap = received.wrapping_sub(next_expected as u16);
        next_expected.wrapping_add(gap as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devaddr_prefix_types_follow_backend_interfaces_table() {
        let cases: [(u32, u8, u32, u32); 8] = [
            (0x0200_0001, 0, 0x01, 0x1),
            (0x8300_0002, 1, 0x03, 0x2),
            (0xc030_0003, 2, 0x03, 0x3),
            (0xe006_0004, 3, 0x03, 0x4),
            (0xf001_8005, 4, 0x03, 0x5),
            (0xf800_6006, 5, 0x03, 0x6),
            (0xfc00_0c07, 6, 0x03, 0x7),
            (0xfe00_0188, 7, 0x03, 0x8),
        ];
        for (raw, t, id, addr) in cases {
            let a = DevAddr::from_u32(raw);
            assert_eq!(a.net_id_type(), Some(t), "{a}");
            assert_eq!(a.nwk_id(), Some(id), "{a}");
            assert_eq!(a.nwk_addr(), Some(addr), "{a}");
            let net_id = NetId::from_u32(((t as u32) << 21) | id).unwrap();
            assert!(a.is_net_id(net_id), "{a} in {net_id}");
            assert_eq!(DevAddr::from_net_id(net_id, addr), a);
        }
        assert_eq!(DevAddr::from_u32(0xff00_0000).net_id_type(), None);
        assert_eq!(DevAddr::from_u32(0xff00_0000).nwk_id(), None);
    }

    #[test]
    fn devaddr_of_other_net_id_is_rejected() {
        let a: DevAddr = "26011bda".parse().unwrap();
        assert!(!a.is_net_id(NetId::from_u32(0x000012).unwrap()));
        assert!(!a.is_net_id(NetId::from_u32(0x200013).unwrap()));
    }

    #[test]
    fn identifiers_round_trip_through_text() {
        let eui: Eui64 = "70b3d57ed0000001".parse().unwrap();
        assert_eq!(eui.to_string(), "70b3d57ed0000001");
        assert_eq!(Eui64::from_le_bytes(eui.to_le_bytes()), eui);
        let n: JoinNonce = "abcdef".parse().unwrap();
        assert_eq!(n.to_le_bytes(), [0xef, 0xcd, 0xab]);
        assert!(JoinNonce::from_u32(0x100_0000).is_none());
        assert!("0102".parse::<DevNonce>().unwrap() == DevNonce(0x0102));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_writes_hex_as_people_write_it() {
        let eui: Eui64 = "70b3d57ed0000001".parse().unwrap();
        let json = serde_json::to_string(&(eui, DevAddr::from_u32(0x2601_1bda))).unwrap();
        assert_eq!(json, r#"["70b3d57ed0000001","26011bda"]"#);
        let back: (Eui64, DevAddr) = serde_json::from_str(&json).unwrap();
        assert_eq!(back, (eui, DevAddr::from_u32(0x2601_1bda)));
        let err = serde_json::from_str::<DevAddr>(r#""26011bd""#).unwrap_err();
        assert!(err.to_string().contains("expected 8 hex digits"), "{err}");
        let key: crate::keys::AppKey =
            serde_json::from_str(r#""000102030405060708090a0b0c0d0e0f""#).unwrap();
        assert_eq!(
            serde_json::to_string(&key).unwrap(),
            r#""000102030405060708090a0b0c0d0e0f""#
        );
    }

    #[test]
    fn fcnt_rollover_past_16_bits_is_accepted() {
        assert_eq!(FCnt::reconstruct(0, 0), 0);
        assert_eq!(FCnt::reconstruct(0xffff, 0xffff), 0xffff);
        assert_eq!(FCnt::reconstruct(0x1_0000, 0x0000), 0x1_0000);
        assert_eq!(FCnt::reconstruct(0xffff_ffff, 0x0000), 0);
        assert_eq!(FCnt::reconstruct(5, 3), 0x1_0003);
    }
}

/// A 4-byte message integrity code, in wire order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mic(pub [u8; 4]);

impl Mic {
    /// The MIC from its wire bytes.
    pub const fn from_be_bytes(b: [u8; 4]) -> Self {
        Self(b)
    }
    /// The wire bytes.
    pub const fn to_be_bytes(self) -> [u8; 4] {
        self.0
    }
}

hex_text!(Mic, 4);

impl core::fmt::Debug for Mic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Mic({self})")
    }
}

/// The direction of a frame: the `Dir` byte of the MIC and encryption blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Direction {
    /// Device to network (`Dir` = 0).
    Uplink,
    /// Network to device (`Dir` = 1).
    Downlink,
}

impl Direction {
    /// The `Dir` byte of the B0 and A blocks.
    pub const fn dir_byte(self) -> u8 {
        match self {
            Self::Uplink => 0,
            Self::Downlink => 1,
        }
    }
}
