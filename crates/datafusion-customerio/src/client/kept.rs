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

/// A file's identity on disk (device, inode, length): what was written is what is read.
#[cfg(unix)]
pub(crate) fn identity(m: &std::fs::Metadata) -> (u64, u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino(), m.len())
}

/// (Elsewhere the length alone: no inode to compare.)
#[cfg(not(unix))]
pub(crate) fn identity(m: &std::fs::Metadata) -> (u64, u64, u64) {
    (0, 0, m.len())
}

#[derive(Debug)]
struct Kept {
    path: PathBuf,
    id: i64,
    made: Instant,
    expires: Instant,
    size: u64,
    identity: (u64, u64, u64),
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
    /// Forgets the file of `prefix`: its path, to remove once the lock is released.
    fn remove(&mut self, prefix: &str) -> Option<PathBuf> {
        let k = self.files.remove(prefix)?;
        self.bytes -= k.size;
        Some(k.path)
    }

    /// Forgets the expired files and the oldest beyond the bound: their paths.
    fn evict(&mut self, now: Instant) -> Vec<PathBuf> {
        let expired: Vec<String> = self
            .files
            .iter()
            .filter(|(_, k)| k.expires <= now)
            .map(|(p, _)| p.clone())
            .collect();
        let mut gone: Vec<PathBuf> = expired.iter().filter_map(|p| self.remove(p)).collect();
        while self.bytes > self.max_bytes {
            let Some(oldest) = self
                .files
                .iter()
                .min_by_key(|(_, k)| k.made)
                .map(|(p, _)| p.clone())
            else {
                break;
            };
            gone.extend(self.remove(&oldest));
        }
        gone
    }
}

/// Removes `paths` (called with no lock held: removing a large file can take a while).
fn delete(paths: impl IntoIterator<Item = PathBuf>) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

impl KeptExports {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the bound, removing the oldest files beyond it.
    pub(crate) fn set_max_bytes(&self, max_bytes: u64) {
        let gone = {
            let mut s = self.lock();
            s.max_bytes = max_bytes;
            s.evict(Instant::now())
        };
        delete(gone);
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
        let now = Instant::now();
        let (path, id, expected) = {
            let mut s = self.lock();
            let gone = s.evict(now);
            let found = s
                .files
                .get(prefix)
                .filter(|k| now.duration_since(k.made) < max_age)
                .map(|k| (k.path.clone(), k.id, k.identity));
            drop(s);
            delete(gone);
            found?
        };
        // Opened, then checked on the open file: a file replaced after this is not the one read.
        let opened = std::fs::File::open(&path)
            .and_then(|f| f.metadata().map(|m| (f, m)))
            .ok()
            .filter(|(_, m)| identity(m) == expected);
        match opened {
            Some((file, _)) => Some((file, id)),
            None => {
                let mut s = self.lock();
                let gone = match s.files.get(prefix) {
                    Some(k) if k.identity == expected => s.remove(prefix),
                    _ => None,
                };
                drop(s);
                delete(gone);
                None
            }
        }
    }

    /// Records `path`, the whole file of export `id` (named by `prefix`) whose identity on disk
    /// is `written`, made (created at Customer.io) at `made`, for `ttl`; it replaces the file of
    /// the same export; expired files and the oldest beyond the bound go. A file larger than the
    /// bound alone is removed at once.
    pub(crate) fn keep(
        &self,
        prefix: &str,
        path: PathBuf,
        written: (u64, u64, u64),
        id: i64,
        made: Instant,
        ttl: Duration,
    ) {
        let size = written.2;
        let gone = {
            let mut s = self.lock();
            if size > s.max_bytes {
                drop(s);
                delete([path]);
                return;
            }
            let mut gone: Vec<PathBuf> = s
                .remove(prefix)
                .into_iter()
                .filter(|p| *p != path)
                .collect();
            s.files.insert(
                prefix.to_string(),
                Kept {
                    path,
                    id,
                    made,
                    expires: made + ttl,
                    size,
                    identity: written,
                },
            );
            s.bytes += size;
            gone.extend(s.evict(Instant::now()));
            gone
        };
        delete(gone);
    }

    /// Removes every file kept.
    pub(crate) fn clear(&self) {
        let gone: Vec<PathBuf> = {
            let mut s = self.lock();
            let prefixes: Vec<String> = s.files.keys().cloned().collect();
            prefixes.iter().filter_map(|p| s.remove(p)).collect()
        };
        delete(gone);
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
        let id_of = |p: &PathBuf| identity(&std::fs::metadata(p).unwrap());
        // A file in the directory that was never recorded is not served.
        write("cio-export-aa-1.export", 10);
        assert!(k.get("cio-export-aa-", ttl).is_none());
        let a = write("a", 10);
        k.keep(
            "cio-export-aa-",
            a.clone(),
            id_of(&a),
            1,
            Instant::now(),
            ttl,
        );
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
        k.keep("b-", b.clone(), id_of(&b), 2, t, ttl);
        k.keep(
            "c-",
            c.clone(),
            id_of(&c),
            3,
            t + Duration::from_millis(1),
            ttl,
        );
        k.keep(
            "d-",
            d.clone(),
            id_of(&d),
            4,
            t + Duration::from_millis(2),
            ttl,
        );
        assert!(!b.exists() && c.exists() && d.exists());
        assert_eq!(k.stats(), (2, 20));
        // Expired: removed, also when another file is kept.
        let e = write("e", 1);
        k.keep(
            "e-",
            e.clone(),
            id_of(&e),
            5,
            Instant::now(),
            Duration::ZERO,
        );
        assert!(!e.exists());
        let e2 = write("e2", 1);
        k.keep(
            "e2-",
            e2.clone(),
            id_of(&e2),
            7,
            Instant::now(),
            Duration::from_millis(1),
        );
        std::thread::sleep(Duration::from_millis(5));
        let g = write("g", 1);
        k.keep("g-", g.clone(), id_of(&g), 8, Instant::now(), ttl);
        assert!(!e2.exists() && g.exists());
        // Larger than the bound alone: removed at once.
        let big = write("big", 30);
        k.keep("big-", big.clone(), id_of(&big), 9, Instant::now(), ttl);
        assert!(!big.exists() && c.exists() && d.exists());
        // Cleared, and dropped: the files go.
        k.clear();
        assert!(!c.exists() && !d.exists() && !g.exists());
        let f = write("f", 1);
        k.keep("f-", f.clone(), id_of(&f), 6, Instant::now(), ttl);
        drop(k);
        assert!(!f.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
