//! How our region names and revisions map onto ChirpStack's `lrwn` 4.13, for the
//! region differential tests.

use lorawan::region::{Region, Revision};
use lrwn::region::{CommonName, MacVersion, Revision as LRevision};

/// `lrwn`'s name of a region.
pub(crate) fn common_name(region: Region) -> CommonName {
    match region {
        Region::Eu868 => CommonName::EU868,
        Region::Us915 => CommonName::US915,
        Region::Cn779 => CommonName::CN779,
        Region::Eu433 => CommonName::EU433,
        Region::Au915 => CommonName::AU915,
        Region::Cn470 => CommonName::CN470,
        Region::As923_1 => CommonName::AS923,
        Region::As923_2 => CommonName::AS923_2,
        Region::As923_3 => CommonName::AS923_3,
        Region::As923_4 => CommonName::AS923_4,
        Region::Kr920 => CommonName::KR920,
        Region::In865 => CommonName::IN865,
        Region::Ru864 => CommonName::RU864,
        Region::Ism2400 => CommonName::ISM2400,
    }
}

/// The `lrwn` (MAC version, Regional Parameters revision) pairs that stand for
/// one of our revisions. `lrwn` keys its payload tables by MAC version first:
/// revision A is the 1.1rA document, B both 1.0.2rB and 1.1rB, and the RP002
/// revisions are looked up under LoRaWAN 1.0.4 (which falls back to its
/// `Latest` map, keyed by RP002 revision).
pub(crate) fn lrwn_versions(revision: Revision) -> Vec<(MacVersion, LRevision)> {
    let rp002 = |r| vec![(MacVersion::LORAWAN_1_0_4, r)];
    match revision {
        Revision::A => vec![(MacVersion::LORAWAN_1_1_0, LRevision::A)],
        Revision::B => vec![
            (MacVersion::LORAWAN_1_0_2, LRevision::B),
            (MacVersion::LORAWAN_1_1_0, LRevision::B),
        ],
        Revision::Rp002_1_0_0 => rp002(LRevision::RP002_1_0_0),
        Revision::Rp002_1_0_1 => rp002(LRevision::RP002_1_0_1),
        Revision::Rp002_1_0_2 => rp002(LRevision::RP002_1_0_2),
        Revision::Rp002_1_0_3 => rp002(LRevision::RP002_1_0_3),
        Revision::Rp002_1_0_4 => rp002(LRevision::RP002_1_0_4),
    }
}
