//! Files the tool writes: beside the target, synced, then renamed over it, so an interrupted
//! or disk-full run leaves the old file or none, never a half-written one.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{CliError, Context};

/// A writer that keeps the first error it meets and then accepts everything, so that a
/// library writing through it finishes quietly (the zip crate prints its own Debug text when
/// a writer fails under it) and the error is reported once, by us.
pub struct Sticky<W> {
    inner: W,
    error: Option<io::Error>,
}

impl<W: Write> Write for Sticky<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.error.is_none()
            && let Err(e) = self.inner.write_all(buf)
        {
            self.error = Some(e);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.error.is_none()
            && let Err(e) = self.inner.flush()
        {
            self.error = Some(e);
        }
        Ok(())
    }
}

impl<W: io::Seek> io::Seek for Sticky<W> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(to)
    }
}

/// The temporary file a write to `target` goes through: hidden, beside it, named after it.
fn temporary(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    target.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes each (name, text) into the folder `dir`, made if missing, each file atomically: the
/// files of a report page.
pub fn write_texts(dir: &Path, files: &[(&str, &str)]) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).in_file(dir)?;
    for (name, text) in files {
        let path = dir.join(name);
        write_atomically(&path, |file| file.write_all(text.as_bytes()).in_file(&path))?;
    }
    Ok(())
}

/// Writes `target` with `write`: into a temporary file beside it, synced, then renamed over it
/// and the folder synced. On any error the temporary file is removed and `target` is as it
/// was.
pub fn write_atomically<T>(
    target: &Path,
    write: impl FnOnce(&mut Sticky<BufWriter<File>>) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let temporary = temporary(target);
    let result = (|| {
        let file = File::create(&temporary).in_file(target)?;
        let mut out = Sticky {
            inner: BufWriter::new(file),
            error: None,
        };
        let value = write(&mut out)?;
        out.flush().in_file(target)?;
        if let Some(e) = out.error.take() {
            return Err(e).in_file(target);
        }
        let file = out
            .inner
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .in_file(target)?;
        file.sync_all().in_file(target)?;
        drop(file);
        std::fs::rename(&temporary, target).in_file(target)?;
        if let Some(folder) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The rename itself is durable once the folder is synced (where folders can be).
            if let Ok(dir) = File::open(folder) {
                let _ = dir.sync_all();
            }
        }
        Ok(value)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// A folder of our own, removed with everything in it when dropped.
pub struct TemporaryFolder(pub PathBuf);

impl TemporaryFolder {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TemporaryFolder {
    fn drop(&mut self) {
        // A temporary folder of our own: nothing in it is worth an error.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("bluezone-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_default();
        dir
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = scratch("failed");
        let target = dir.join("export.zip");
        std::fs::write(&target, b"the old file").unwrap_or_default();
        let result: Result<(), CliError> = write_atomically(&target, |out| {
            out.write_all(b"half of a new file").in_file(&target)?;
            Err(io::Error::other("disk full")).in_file(&target)
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read(&target).unwrap_or_default(), b"the old file");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(left.len(), 1, "{left:?}");
        let written: Result<(), CliError> = write_atomically(&target, |out| {
            out.write_all(b"the new file").in_file(&target)
        });
        assert!(written.is_ok());
        assert_eq!(std::fs::read(&target).unwrap_or_default(), b"the new file");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failing_writer_is_reported_once_after_the_library_finished() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from(io::ErrorKind::StorageFull))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut sticky = Sticky {
            inner: Full,
            error: None,
        };
        assert!(sticky.write_all(b"abc").is_ok());
        assert!(sticky.write_all(b"def").is_ok());
        assert_eq!(
            sticky.error.map(|e| e.kind()),
            Some(io::ErrorKind::StorageFull)
        );
    }
}
