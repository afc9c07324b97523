//! `export.bin` over `std::io`: a reader whose memory does not grow with the file, and a
//! writer that emits keys as they come (spec §export.3).

use std::io::{self, BufRead, Read, Write};
use std::vec::Vec;

use super::bin::{
    ExportMetadata, ExportedKey, TopLevel, decode_key, encode_key, encode_prefix, top_level,
};
use super::proto::number::export;
use super::proto::{self, FIXED32, FIXED64, Field, VARINT, Value};
use super::{EXPORT_HEADER, ExportError};
use crate::gaen::DiagnosisKey;

/// The longest field the streaming reader keeps in memory. Keys and signature infos are a few
/// dozen bytes; unknown fields of any length are skipped without being kept.
pub const MAX_FIELD_LEN: u64 = 64 * 1024;

/// Why a stream could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The bytes are not a valid export file.
    #[error(transparent)]
    Format(#[from] ExportError),
    /// The underlying reader failed.
    #[error("read error: {0}")]
    Io(#[from] io::Error),
}

impl StreamError {
    /// Whether the error concerns one key only ([`ExportError::is_per_key`]): the reader
    /// yields it in place of that key and goes on with the next.
    #[must_use]
    pub const fn is_per_key(&self) -> bool {
        matches!(self, Self::Format(e) if e.is_per_key())
    }
}

/// Reads an `export.bin` from any buffered reader: metadata first (as far as it precedes the
/// keys, which is where every known writer puts it), then one key at a time. Memory stays below
/// [`MAX_FIELD_LEN`] plus the metadata whatever the number of keys. A key the protocol does not
/// allow is an error item in its place ([`StreamError::is_per_key`]) and the stream goes on;
/// structural damage is the last item.
#[derive(Debug)]
pub struct ExportReader<R> {
    reader: R,
    offset: u64,
    metadata: ExportMetadata,
    field: Vec<u8>,
    keys_seen: u64,
    revised_seen: u64,
    /// The first key (or its per-key error), read ahead by `new` to reach the metadata.
    pending: Option<Result<ExportedKey, StreamError>>,
    finished: bool,
}

impl<R: BufRead> ExportReader<R> {
    /// Reads the header and the metadata up to the first key.
    ///
    /// # Errors
    /// [`StreamError`] for a wrong header, malformed metadata or a read error.
    pub fn new(mut reader: R) -> Result<Self, StreamError> {
        let mut header = [0u8; 16];
        reader.read_exact(&mut header).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => StreamError::Format(ExportError::Header),
            _ => StreamError::Io(e),
        })?;
        if &header != EXPORT_HEADER {
            return Err(ExportError::Header.into());
        }
        let mut this = Self {
            reader,
            offset: EXPORT_HEADER.len() as u64,
            metadata: ExportMetadata::default(),
            field: Vec::new(),
            keys_seen: 0,
            revised_seen: 0,
            pending: None,
            finished: false,
        };
        this.pending = match this.advance() {
            Ok(key) => key.map(Ok),
            Err(e) if e.is_per_key() => Some(Err(e)),
            Err(e) => return Err(e),
        };
        Ok(this)
    }

    /// The metadata read so far; complete once the keys have been read to the end.
    #[must_use]
    pub const fn metadata(&self) -> &ExportMetadata {
        &self.metadata
    }

    /// The underlying reader.
    #[must_use]
    pub const fn get_ref(&self) -> &R {
        &self.reader
    }

    /// Keys and revised keys decoded so far (one key ahead of the iterator); all of them once
    /// the iterator is exhausted.
    #[must_use]
    pub const fn keys_decoded(&self) -> (u64, u64) {
        (self.keys_seen, self.revised_seen)
    }

    /// Bytes read so far, header included: the size of `export.bin` once the iterator is
    /// exhausted.
    #[must_use]
    pub const fn bytes_read(&self) -> u64 {
        self.offset
    }

    /// Reads one byte, or `None` at the end of the stream.
    fn byte(&mut self) -> io::Result<Option<u8>> {
        let byte = loop {
            match self.reader.fill_buf() {
                Ok(buf) => break buf.first().copied(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if byte.is_some() {
            self.reader.consume(1);
            self.offset += 1;
        }
        Ok(byte)
    }

    /// Reads a varint that must be there.
    fn varint(&mut self) -> Result<u64, StreamError> {
        let start = self.offset;
        self.varint_or_end(false)?
            .ok_or_else(|| ExportError::Varint { offset: start }.into())
    }

    /// Reads a varint; `Ok(None)` only at a clean end of stream when `allow_end`.
    fn varint_or_end(&mut self, allow_end: bool) -> Result<Option<u64>, StreamError> {
        let start = self.offset;
        let mut bytes = [0u8; 10];
        for index in 0..10 {
            let Some(byte) = self.byte()? else {
                if index == 0 && allow_end {
                    return Ok(None);
                }
                return Err(ExportError::Varint { offset: start }.into());
            };
            if let Some(slot) = bytes.get_mut(index) {
                *slot = byte;
            }
            if byte & 0x80 == 0 {
                let (varint, _) = bytes.split_at(index + 1);
                let (value, _) = proto::varint(varint, start)?;
                return Ok(Some(value));
            }
        }
        Err(ExportError::Varint { offset: start }.into())
    }

    fn exact<const N: usize>(&mut self, tag_offset: u64) -> Result<[u8; N], StreamError> {
        let mut out = [0u8; N];
        let mut filled = 0;
        while filled < N {
            let Some(byte) = self.byte()? else {
                return Err(ExportError::Length {
                    offset: tag_offset,
                    declared: N as u64,
                    available: filled as u64,
                }
                .into());
            };
            if let Some(slot) = out.get_mut(filled) {
                *slot = byte;
            }
            filled += 1;
        }
        Ok(out)
    }

    /// Reads `len` bytes into the field buffer, or skips them.
    fn body(&mut self, len: u64, keep: bool, tag_offset: u64) -> Result<(), StreamError> {
        let short = |available| ExportError::Length {
            offset: tag_offset,
            declared: len,
            available,
        };
        if keep {
            if len > MAX_FIELD_LEN {
                return Err(ExportError::FieldTooLong {
                    offset: tag_offset,
                    len,
                    max: MAX_FIELD_LEN,
                }
                .into());
            }
            self.field.clear();
            let got = (&mut self.reader).take(len).read_to_end(&mut self.field)? as u64;
            self.offset += got;
            if got < len {
                return Err(short(got).into());
            }
        } else {
            let got = io::copy(&mut (&mut self.reader).take(len), &mut io::sink())?;
            self.offset += got;
            if got < len {
                return Err(short(got).into());
            }
        }
        Ok(())
    }

    /// Reads fields until the next key; `None` at the end of the stream.
    fn advance(&mut self) -> Result<Option<ExportedKey>, StreamError> {
        loop {
            let offset = self.offset;
            let Some(tag) = self.varint_or_end(true)? else {
                return Ok(None);
            };
            let (number, wire_type) = proto::split_tag(tag, offset)?;
            let value = match wire_type {
                VARINT => Value::Varint(self.varint()?),
                FIXED64 => Value::Fixed64(u64::from_le_bytes(self.exact(offset)?)),
                FIXED32 => Value::Fixed32(u32::from_le_bytes(self.exact(offset)?)),
                _ => {
                    let len = self.varint()?;
                    // Keep what the schema gives as length-delimited; skip unknown fields
                    // without keeping them. Other known fields with this wire type are a type
                    // error that `top_level` reports without needing their bytes.
                    let keep = matches!(
                        number,
                        export::REGION | export::SIGNATURE_INFOS..=export::REVISED_KEYS
                    );
                    self.body(len, keep, offset)?;
                    if !keep {
                        self.field.clear();
                        if !matches!(
                            number,
                            export::START_TIMESTAMP
                                | export::END_TIMESTAMP
                                | export::BATCH_NUM
                                | export::BATCH_SIZE
                        ) {
                            continue;
                        }
                    }
                    Value::Bytes(&self.field)
                }
            };
            let field = Field {
                number,
                value,
                offset,
                body_offset: self.offset - self.field.len() as u64,
            };
            if let TopLevel::Key {
                bytes,
                offset,
                base,
                revised,
            } = top_level(field, &mut self.metadata)?
            {
                let slot = if revised {
                    &mut self.revised_seen
                } else {
                    &mut self.keys_seen
                };
                let index = *slot;
                *slot += 1;
                return Ok(Some(decode_key(bytes, offset, base, index, revised)?));
            }
        }
    }
}

impl<R: BufRead> Iterator for ExportReader<R> {
    type Item = Result<ExportedKey, StreamError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.pending.take() {
            return Some(item);
        }
        if self.finished {
            return None;
        }
        match self.advance() {
            Ok(Some(key)) => Some(Ok(key)),
            Ok(None) => {
                self.finished = true;
                None
            }
            // A bad key is that key's error; the keys after it follow, as in the in-memory
            // reader. Anything structural ends the stream.
            Err(e) => {
                self.finished = !e.is_per_key();
                Some(Err(e))
            }
        }
    }
}

/// Writes an `export.bin` as keys arrive: header and metadata first, then one key message per
/// call, in the reference server's field order. Write all keys before any revised key to keep
/// the fields in number order.
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    out: W,
    buffer: Vec<u8>,
}

impl<W: Write> ExportWriter<W> {
    /// Writes the header and metadata.
    ///
    /// # Errors
    /// The writer's I/O error.
    pub fn new(mut out: W, metadata: &ExportMetadata) -> io::Result<Self> {
        out.write_all(&encode_prefix(metadata))?;
        Ok(Self {
            out,
            buffer: Vec::with_capacity(64),
        })
    }

    /// Writes one key (field 7), or revised key (field 8).
    ///
    /// # Errors
    /// The writer's I/O error.
    pub fn write_key(&mut self, key: &DiagnosisKey, revised: bool) -> io::Result<()> {
        self.buffer.clear();
        encode_key(&mut self.buffer, key, revised);
        self.out.write_all(&self.buffer)
    }

    /// Flushes and returns the writer.
    ///
    /// # Errors
    /// The writer's I/O error.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
