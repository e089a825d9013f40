//! Key secrets at rest: encrypted with ChaCha20-Poly1305 under the server's master key.
//!
//! Hashing is not an option: the spec returns a key's secret on GET, and HS256 JWTs are
//! verified with the plain secret. Encryption keeps a stolen database file useless
//! without the master key, which lives outside the database.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

use super::StoreError;

pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl SecretBox {
    pub fn new(master_key: [u8; 32]) -> Self {
        SecretBox { cipher: ChaCha20Poly1305::new(Key::from_slice(&master_key)) }
    }

    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self.cipher.encrypt(Nonce::from_slice(&nonce), plain.as_bytes()).expect("encryption of a short secret cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        B64.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<String, StoreError> {
        let bytes = B64.decode(sealed).map_err(|_| StoreError::Corrupt("secret is not base64".into()))?;
        if bytes.len() < 12 {
            return Err(StoreError::Corrupt("secret too short".into()));
        }
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(&bytes[..12]), &bytes[12..])
            .map_err(|_| StoreError::Corrupt("a key secret cannot be decrypted: is SUNBEAM_MASTER_KEY the one it was written with?".into()))?;
        String::from_utf8(plain).map_err(|_| StoreError::Corrupt("secret is not utf-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_and_wrong_key_fails() {
        let a = SecretBox::new([7; 32]);
        let sealed = a.seal("s3cret");
        assert_ne!(sealed, "s3cret");
        assert_eq!(a.open(&sealed).unwrap(), "s3cret");
        assert!(SecretBox::new([8; 32]).open(&sealed).is_err());
    }
}
