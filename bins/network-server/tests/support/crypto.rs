//! `lorawan-device`'s crypto, given over RustCrypto's `aes` 0.9 and `cmac`
//! 0.8 rather than its `default-crypto` (aes 0.8), so the tests add no
//! second major version of the AES crates — and the device's AES and CMAC
//! stay independent of our `lorawan` crate's.

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use generic_array::GenericArray;
use generic_array::typenum::U16;
use lorawan_rs::keys::{AES128, CryptoFactory, Decrypter, Encrypter, Mac};

/// The [`CryptoFactory`] of the tests' `lorawan-device` devices.
#[derive(Debug, Default, Clone, Copy)]
pub struct RustCrypto;

/// AES-128 with a key.
pub struct Aes(aes::Aes128);

/// AES-CMAC with a key, collecting its input.
pub struct Cmac {
    key: [u8; 16],
    mac: cmac::Cmac<aes::Aes128>,
}

fn block_of(block: &GenericArray<u8, U16>) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(block.as_slice());
    out
}

impl Encrypter for Aes {
    fn encrypt_block(&self, block: &mut GenericArray<u8, U16>) {
        let mut b = block_of(block);
        self.0.encrypt_block((&mut b).into());
        block.copy_from_slice(&b);
    }
}

impl Decrypter for Aes {
    fn decrypt_block(&self, block: &mut GenericArray<u8, U16>) {
        let mut b = block_of(block);
        self.0.decrypt_block((&mut b).into());
        block.copy_from_slice(&b);
    }
}

impl Mac for Cmac {
    fn input(&mut self, data: &[u8]) {
        cmac::Mac::update(&mut self.mac, data);
    }

    fn reset(&mut self) {
        self.mac = new_cmac(&self.key);
    }

    fn result(self) -> GenericArray<u8, U16> {
        let tag: [u8; 16] = cmac::Mac::finalize(self.mac).into_bytes().into();
        GenericArray::from(tag)
    }
}

fn new_cmac(key: &[u8; 16]) -> cmac::Cmac<aes::Aes128> {
    <cmac::Cmac<aes::Aes128> as KeyInit>::new(&(*key).into())
}

impl CryptoFactory for RustCrypto {
    type E = Aes;
    type D = Aes;
    type M = Cmac;

    fn new_enc(&self, key: &AES128) -> Aes {
        Aes(aes::Aes128::new(&key.0.into()))
    }

    fn new_dec(&self, key: &AES128) -> Aes {
        Aes(aes::Aes128::new(&key.0.into()))
    }

    fn new_mac(&self, key: &AES128) -> Cmac {
        Cmac {
            key: key.0,
            mac: new_cmac(&key.0),
        }
    }
}

#[test]
fn cmac_matches_rfc_4493_example_2() {
    // RFC 4493, section 4, example 2 (16-byte message).
    let key = AES128([
        0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f,
        0x3c,
    ]);
    let msg = [
        0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93, 0x17,
        0x2a,
    ];
    let mut mac = RustCrypto.new_mac(&key);
    mac.input(&msg[..7]);
    mac.input(&msg[7..]);
    assert_eq!(
        mac.result().as_slice(),
        [
            0x07, 0x0a, 0x16, 0xb4, 0x6b, 0x4d, 0x41, 0x44, 0xf7, 0x9b, 0xdd, 0x9d, 0xd0, 0x4a,
            0x28, 0x7c
        ]
    );
}
