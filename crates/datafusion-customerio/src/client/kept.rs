//! Export files kept on disk for a time to live (`customerio.export_cache_dir`): the registry of
//! one [`super::ResponseCache`].
//!
//! Only files this registry recorded are ever served: a file in the directory that it did not
//! write (another process's, one planted there) is never read, and a recorded file whose device
//! and inode are not the ones written (replaced, or a link put in its place) is a miss. Files are
//! bounded by bytes (oldest out), expire with the time to live counted from the export's
//! creation, and are removed when cleared, evicted, replaced or when the registry is dropped. The
//! first use of a directory removes what earlier processes left there (files older than the
//! longest time to live).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The default bound of the files kept: 4 GiB.
pub const DEFAULT_EXPORT_CACHE_MAX_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// A file's identity on disk (device, inode): what was written is what is read.
#[cfg(unix)]
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

#[cfg(not(unix))]
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    (m.len(), 0)
}

#[derive(Debug)]
struct Kept {
    path: PathBuf,
    id: i64,
    made: Instant,
    expires: Instant,
    size: u64,
    identity: (u64, u64),
}

#[derive(Debug)]
struct State {
    /// By the export's name prefix ([`crate::client::Client::export_cache_file`]).
    files: HashMap<String, Kept>,
    bytes: u64,
    max_bytes: u64,
    swept: HashSet<PathBuf>,
}

/// The export files of one response cache.
#[derive(Debug)]
pub(crate) struct KeptExports {
    state: Mutex<State>,
}

impl Default for KeptExports {
    fn default() -> Self {
        KeptExports {
            state: Mutex::new(State {
                files: HashMap::new(),
                bytes: 0,
                max_bytes: DEFAULT_EXPORT_CACHE_MAX_BYTES,
                swept: HashSet::new(),
            }),
        }
    }
}

impl State {
    fn remove(&mut self, prefix: &str) {
        if let Some(k) = self.files.remove(prefix) {
            self.bytes -= k.size;
            let _ = std::fs::remove_file(&k.path);
        }
    }

    fn evict(&mut self) {
        while self.bytes > self.max_bytes {
            let Some(oldest) = self
                .files
                .iter()
                .min_by_key(|(_, k)| k.made)
                .map(|(p, _)| p.clone())
            else {
                break;
            };
            self.remove(&oldest);
        }
    }
}

impl KeptExports {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the bound, removing the oldest files beyond it.
    pub(crate) fn set_max_bytes(&self, max_bytes: u64) {
        let mut s = self.lock();
        s.max_bytes = max_bytes;
        s.evict();
    }

    /// Files and bytes kept.
    pub(crate) fn stats(&self) -> (usize, u64) {
        let s = self.lock();
        (s.files.len(), s.bytes)
    }

    /// The file kept for the export named by `prefix`, opened, and its export id: if it was
    /// made less than `max_age` ago (the reader's time to live), has not expired, and is still
    /// the file written. Anything else is a miss (an expired or replaced file is removed).
    pub(crate) fn get(&self, prefix: &str, max_age: Duration) -> Option<(std::fs::File, i64)> {
        let mut s = self.lock();
        let now = Instant::now();
        let k = s.files.get(prefix)?;
        if k.expires <= now {
            s.remove(prefix);
            return None;
        }
        if now.duration_since(k.made) >= max_age {
            return None;
        }
        let opened = std::fs::File::open(&k.path)
            .and_then(|f| f.metadata().map(|m| (f, m)))
            .ok()
            .filter(|(_, m)| identity(m) == k.identity && m.len() == k.size);
        match opened {
            Some((file, _)) => Some((file, k.id)),
            None => {
                s.remove(prefix);
                None
            }
        }
    }

    /// Records `path`, the whole file of export `id` (named by `prefix`), made (created at
    /// Customer.io) at `made`, for `ttl`; it replaces the file of the same export, and the oldest
    /// files go beyond the bound (this one too, if it alone is larger).
    pub(crate) fn keep(&self, prefix: &str, path: PathBuf, id: i64, made: Instant, ttl: Duration) {
        let Ok(m) = std::fs::symlink_metadata(&path) else {
            return;
        };
        let mut s = self.lock();
        s.remove(prefix);
        let size = m.len();
        s.files.insert(
            prefix.to_string(),
            Kept {
                path,
                id,
                made,
                expires: made + ttl,
                size,
                identity: identity(&m),
            },
        );
        s.bytes += size;
        s.evict();
    }

    /// Removes every file kept.
    pub(crate) fn clear(&self) {
        let mut s = self.lock();
        let prefixes: Vec<String> = s.files.keys().cloned().collect();
        for p in prefixes {
            s.remove(&p);
        }
    }

    /// The first time `dir` is used: removes the export files (whole or partial) earlier
    /// processes left there, older than `older_than` (the longest time to live and a margin):
    /// no process can read them any more (their names are salted per process).
    pub(crate) fn sweep(&self, dir: &Path, older_than: Duration) {
        if !self.lock().swept.insert(dir.to_path_buf()) {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let ours = e
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("cio-export-"));
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > older_than);
            if ours && old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

impl Drop for KeptExports {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_recorded_unchanged_young_files_are_served_and_all_go() {
        let dir = std::env::temp_dir().join(format!("cio-kept-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ttl = Duration::from_secs(60);
        let k = KeptExports::default();
        let write = |name: &str, n: usize| {
            let p = dir.join(name);
            std::fs::write(&p, vec![b'x'; n]).unwrap();
            p
        };
        // A file in the directory that was never recorded is not served.
        write("cio-export-aa-1.export", 10);
        assert!(k.get("cio-export-aa-", ttl).is_none());
        let a = write("a", 10);
        k.keep("cio-export-aa-", a.clone(), 1, Instant::now(), ttl);
        assert_eq!(k.get("cio-export-aa-", ttl).map(|(_, id)| id), Some(1));
        // Older than the reader's own time to live: not served to it.
        assert!(k.get("cio-export-aa-", Duration::ZERO).is_none());
        // Replaced on disk (another inode under the name; the old one kept alive so that its
        // number is not reused): a miss, and forgotten.
        std::fs::rename(&a, dir.join("a.old")).unwrap();
        write("a", 10);
        assert!(k.get("cio-export-aa-", ttl).is_none());
        assert_eq!(k.stats(), (0, 0));
        // Bounded: the oldest goes, with its file.
        k.set_max_bytes(25);
        let b = write("b", 10);
        let c = write("c", 10);
        let d = write("d", 10);
        let t = Instant::now();
        k.keep("b-", b.clone(), 2, t, ttl);
        k.keep("c-", c.clone(), 3, t + Duration::from_millis(1), ttl);
        k.keep("d-", d.clone(), 4, t + Duration::from_millis(2), ttl);
        assert!(!b.exists() && c.exists() && d.exists());
        assert_eq!(k.stats(), (2, 20));
        // Expired: removed.
        let e = write("e", 1);
        k.keep("e-", e.clone(), 5, Instant::now() - ttl, ttl);
        assert!(k.get("e-", ttl).is_none() && !e.exists());
        // Cleared, and dropped: the files go.
        k.clear();
        assert!(!c.exists() && !d.exists());
        let f = write("f", 1);
        k.keep("f-", f.clone(), 6, Instant::now(), ttl);
        drop(k);
        assert!(!f.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
