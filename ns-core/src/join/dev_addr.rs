//! DevAddr allocation for joins: a random address inside a tenant's prefixes,
//! else the network's, else the block of the network's NetID.
//!
//! A prefix is written as ChirpStack writes it, the address bits in hex and
//! the prefix length after a slash: `26000000/7` is every address whose top
//! seven bits are those of `0x26000000`.

use std::fmt;
use std::str::FromStr;

use lorawan::{DevAddr, NetId};
use rand::Rng;

/// A block of device addresses: the addresses whose first `len` bits are
/// those of `prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DevAddrPrefix {
    prefix: DevAddr,
    len: u8,
}

/// A DevAddr prefix that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DevAddrError {
    /// The text is not `<8 hex digits>/<length 0 to 32>`.
    #[error("malformed DevAddr prefix {text:?}: {reason}")]
    MalformedPrefix {
        /// The prefix as configured.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl DevAddrPrefix {
    /// The prefix of the first `len` bits (at most 32) of `prefix`; the bits
    /// after them are cleared. `None` if `len` is above 32.
    pub const fn new(prefix: DevAddr, len: u8) -> Option<Self> {
        if len > 32 {
            return None;
        }
        let masked = prefix.to_u32() & mask(len);
        Some(Self {
            prefix: DevAddr::from_u32(masked),
            len,
        })
    }

    /// The address block of `net_id` (LoRaWAN Backend Interfaces §13): its
    /// type prefix and NwkID.
    pub const fn from_net_id(net_id: NetId) -> Self {
        let low = DevAddr::from_net_id(net_id, 0).to_u32();
        let high = DevAddr::from_net_id(net_id, u32::MAX).to_u32();
        Self {
            prefix: DevAddr::from_u32(low),
            len: 32 - (low ^ high).count_ones() as u8,
        }
    }

    /// The fixed leading bits, the others zero.
    pub const fn prefix(&self) -> DevAddr {
        self.prefix
    }

    /// How many leading bits are fixed.
    pub const fn len(&self) -> u8 {
        self.len
    }

    /// Whether the prefix fixes no bit (`00000000/0`: any address).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `addr` lies in the block.
    pub const fn contains(&self, addr: DevAddr) -> bool {
        addr.to_u32() & mask(self.len) == self.prefix.to_u32()
    }

    /// Whether the two blocks share an address (one contains the other).
    pub const fn overlaps(&self, other: &Self) -> bool {
        self.contains(other.prefix) || other.contains(self.prefix)
    }

    /// A uniformly random address of the block.
    pub fn random<R: Rng + ?Sized>(&self, rng: &mut R) -> DevAddr {
        let m = mask(self.len);
        DevAddr::from_u32(self.prefix.to_u32() | (rng.next_u32() & !m))
    }
}

/// The mask of the first `len` bits (`len` ≤ 32).
const fn mask(len: u8) -> u32 {
    match len {
        0 => 0,
        l if l >= 32 => u32::MAX,
        l => u32::MAX << (32 - l as u32),
    }
}

impl FromStr for DevAddrPrefix {
    type Err = DevAddrError;

    /// Reads `26000000/7`. Bits after the prefix length may be set in the
    /// text; they are cleared, as a network would when allocating.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = |reason| DevAddrError::MalformedPrefix {
            text: s.to_string(),
            reason,
        };
        let (addr, len) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| malformed("expected <address>/<length>, such as 26000000/7"))?;
        let addr: DevAddr = addr
            .parse()
            .map_err(|_| malformed("the address is not 8 hex digits"))?;
        let len: u8 = len
            .parse()
            .map_err(|_| malformed("the length is not a number"))?;
        Self::new(addr, len).ok_or_else(|| malformed("the length is above 32"))
    }
}

impl fmt::Display for DevAddrPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.prefix, self.len)
    }
}

/// A random DevAddr for a joining device: inside one of the tenant's
/// `dev_addr_prefixes` chosen at random, else one of the network's, else the
/// block of the network's NetID (ChirpStack v4.19's order).
///
/// Every prefix of both lists is read first, so a malformed prefix is reported
/// whichever prefix would have been drawn.
///
/// # Errors
///
/// [`DevAddrError::MalformedPrefix`] for a prefix that cannot be read.
///
/// ```
/// use lorawan::NetId;
/// use ns_core::join::{DevAddrPrefix, allocate_dev_addr};
/// use rand::{SeedableRng, rngs::StdRng};
///
/// let mut rng = StdRng::seed_from_u64(1);
/// let net_id = NetId::from_u32(0x000013).unwrap();
/// let tenant = ["fc00ac00/24".to_string()];
/// let addr = allocate_dev_addr(net_id, &tenant, &[] as &[&str], &mut rng)?;
/// assert!("fc00ac00/24".parse::<DevAddrPrefix>()?.contains(addr));
///
/// // No prefixes anywhere: the NetID's block (type 0, NwkID 0x13).
/// let addr = allocate_dev_addr(net_id, &[] as &[&str], &[] as &[&str], &mut rng)?;
/// assert!(addr.is_net_id(net_id));
/// # Ok::<(), ns_core::join::DevAddrError>(())
/// ```
pub fn allocate_dev_addr<R, S, T>(
    net_id: NetId,
    tenant_prefixes: &[S],
    network_prefixes: &[T],
    rng: &mut R,
) -> Result<DevAddr, DevAddrError>
where
    R: Rng + ?Sized,
    S: AsRef<str>,
    T: AsRef<str>,
{
    let tenant = parse_all(tenant_prefixes)?;
    let network = parse_all(network_prefixes)?;
    let pool = if !tenant.is_empty() {
        tenant
    } else if !network.is_empty() {
        network
    } else {
        vec![DevAddrPrefix::from_net_id(net_id)]
    };
    // The pool holds at least one prefix, so `pick` is a valid index.
    let pick = (u64::from(rng.next_u32()) % pool.len() as u64) as usize;
    Ok(pool[pick].random(rng))
}

fn parse_all<S: AsRef<str>>(prefixes: &[S]) -> Result<Vec<DevAddrPrefix>, DevAddrError> {
    prefixes.iter().map(|p| p.as_ref().parse()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn prefixes_read_and_print_as_chirpstack_writes_them() {
        let p: DevAddrPrefix = "26000000/7".parse().unwrap();
        assert_eq!((p.prefix().to_u32(), p.len()), (0x2600_0000, 7));
        assert_eq!(p.to_string(), "26000000/7");
        assert!(p.contains(DevAddr::from_u32(0x27ff_ffff)));
        assert!(!p.contains(DevAddr::from_u32(0x2800_0000)));
        let host_bits: DevAddrPrefix = "26ffffff/8".parse().unwrap();
        assert_eq!(host_bits.to_string(), "26000000/8");
        let all: DevAddrPrefix = "00000000/0".parse().unwrap();
        assert!(all.is_empty() && all.contains(DevAddr::from_u32(u32::MAX)));
        let one: DevAddrPrefix = "01020304/32".parse().unwrap();
        assert!(one.contains(DevAddr::from_u32(0x0102_0304)));
    }

    #[test]
    fn malformed_prefixes_say_why() {
        for (text, reason) in [
            (
                "26000000",
                "expected <address>/<length>, such as 26000000/7",
            ),
            ("2600000/7", "the address is not 8 hex digits"),
            ("zz000000/7", "the address is not 8 hex digits"),
            ("26000000/x", "the length is not a number"),
            ("26000000/-1", "the length is not a number"),
            ("26000000/33", "the length is above 32"),
            ("", "expected <address>/<length>, such as 26000000/7"),
        ] {
            assert_eq!(
                text.parse::<DevAddrPrefix>(),
                Err(DevAddrError::MalformedPrefix {
                    text: text.into(),
                    reason
                }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn net_id_blocks_match_the_backend_interfaces_layout() {
        // Type 0: 1 + 6 bits; type 3: 4 + 11 bits; type 7: 8 + 17 bits.
        let t0 = DevAddrPrefix::from_net_id(NetId::from_u32(0x000013).unwrap());
        assert_eq!(t0.to_string(), "26000000/7");
        let t3 = DevAddrPrefix::from_net_id(NetId::from_u32(0x600013).unwrap());
        assert_eq!(t3.len(), 15);
        assert_eq!(t3.prefix().net_id_type(), Some(3));
        let t7 = DevAddrPrefix::from_net_id(NetId::from_u32(0xe0_0001).unwrap());
        assert_eq!(t7.len(), 25);
    }

    #[test]
    fn a_bad_network_prefix_is_reported_even_when_the_tenant_has_some() {
        let mut rng = StdRng::seed_from_u64(0);
        let net_id = NetId::from_u32(1).unwrap();
        assert!(matches!(
            allocate_dev_addr(net_id, &["26000000/7"], &["nonsense"], &mut rng),
            Err(DevAddrError::MalformedPrefix { .. })
        ));
    }
}
