//! Atomic file writes: every file a user depends on (results, models, datasets, recordings)
//! appears whole under its name or not at all, even if the machine stops mid-write.
//!
//! The pattern is the one POSIX guarantees: write a temporary file in the same folder, `fsync`
//! it, `rename` it over the target (atomic within one file system), then `fsync` the folder so
//! that the rename itself is durable.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A temporary name beside `path`, unique to this process and call: `.NAME.tmp-PID-N`.
pub fn temporary_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// Writes `bytes` to `path` atomically (creating its folder if needed).
///
/// Errors: any I/O error of creating, writing, syncing or renaming; the target is then
/// untouched and the temporary file removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = temporary_path(path);
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    commit(&temporary, path)
}

/// Moves a finished temporary file (written by a library that writes to a path of its own,
/// such as safetensors or MCAP) into place: `fsync` it, rename it to `path`, `fsync` the folder.
///
/// Errors: any I/O error; on failure the temporary file is removed and `path` is untouched.
pub fn commit(temporary: &Path, path: &Path) -> std::io::Result<()> {
    let moved = (|| {
        std::fs::File::open(temporary)?.sync_all()?;
        std::fs::rename(temporary, path)
    })();
    if let Err(e) = moved {
        let _ = std::fs::remove_file(temporary);
        return Err(e);
    }
    sync_parent(path)
}

/// `fsync`s the folder holding `path`, so that a rename into it survives a crash. Where folders
/// cannot be opened or synced (some platforms and file systems refuse with `InvalidInput`,
/// `Unsupported` or `PermissionDenied`) it does nothing; any other error is returned.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let unsupported = |e: &std::io::Error| {
        matches!(e.kind(), std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied)
    };
    match std::fs::File::open(dir).and_then(|handle| handle.sync_all()) {
        Err(e) if !unsupported(&e) => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("dreamrig-atomic-{}", std::process::id()));
        let path = dir.join("nested").join("out.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<String> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["out.json".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_the_target_untouched() {
        let dir = std::env::temp_dir().join(format!("dreamrig-atomic-fail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kept.txt");
        write_atomic(&path, b"kept").unwrap();
        // A folder of the same name as the temporary file's target cannot be replaced by a file.
        let blocked = dir.join("blocked");
        std::fs::create_dir_all(blocked.join("inside")).unwrap();
        assert!(write_atomic(&blocked, b"x").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"kept");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
