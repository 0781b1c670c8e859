//! DARE, the data-at-rest encryption format of MinIO's `sio` library, as Coffer stores
//! every encrypted object.
//!
//! A DARE stream is a sequence of *packages*, each a 16-byte header, up to 64 KiB of
//! AEAD-encrypted payload and a 16-byte tag. This crate writes DARE 2.0 with AES-256-GCM
//! and reads DARE 1.0 and 2.0 with AES-256-GCM or ChaCha20-Poly1305, enforcing every
//! decode rule (order, truncation, trailing data, final flag, tampering), so a stream
//! either decrypts to exactly what was written or fails.
//!
//! Layers, bottom up:
//! - [`header`]: the 16-byte header codec;
//! - [`Sealer`]/[`Opener`]: one package at a time, with the stream state;
//! - [`codec`]: sans-I/O encoder and decoder owning one package buffer;
//! - [`io`] and `async_io`: `Read`/`Write` and tokio `AsyncRead`/`AsyncWrite` adapters;
//! - [`size`]: plaintext ↔ ciphertext sizes and range mapping (also across multipart parts).
//!
//! ```
//! use std::io::Read;
//! use dare::{io::{DecryptReader, EncryptReader}, Key, Sealer};
//!
//! let key = Key::new([7; 32]);
//! let plaintext = vec![42u8; 100_000];
//! let mut stream = Vec::new();
//! EncryptReader::encrypt(&plaintext[..], Sealer::new(&key, 0)?).read_to_end(&mut stream)?;
//! assert_eq!(stream.len() as u64, dare::encrypted_size(100_000)?);
//!
//! let mut back = Vec::new();
//! DecryptReader::decrypt(&stream[..], &key, 0).read_to_end(&mut back)?;
//! assert_eq!(back, plaintext);
//!
//! stream[70_000] ^= 1; // any modification is detected
//! assert!(DecryptReader::decrypt(&stream[..], &key, 0).read_to_end(&mut Vec::new()).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! It does no file or network I/O of its own and knows nothing about keys beyond the
//! 32 bytes it is given: key derivation and sealing live in the object server.

mod error;
mod key;
mod package;

#[cfg(feature = "tokio")]
pub mod async_io;
pub mod codec;
pub mod header;
pub mod io;
pub mod size;

pub use codec::{decrypt_buffer, decrypt_slice, encrypt_buffer, encrypt_slice, Decoder, Encoder};
pub use error::{Error, Result, SizeError};
pub use key::{CipherSuite, Key};
pub use package::{Opener, Sealer};
pub use size::{decrypted_range, decrypted_size, encrypted_size, RangePlan};

/// Key length of both AEADs. Frozen.
pub const KEY_SIZE: usize = 32;
/// Package header length. Frozen.
pub const HEADER_SIZE: usize = 16;
/// AEAD tag length. Frozen.
pub const TAG_SIZE: usize = 16;
/// Largest payload of one package (64 KiB); every non-final DARE 2.0 package is this
/// size. Frozen.
pub const MAX_PAYLOAD_SIZE: usize = 65536;
/// Largest package: header, full payload and tag. Frozen.
pub const MAX_PACKAGE_SIZE: usize = HEADER_SIZE + MAX_PAYLOAD_SIZE + TAG_SIZE;
