//! Noticing that resolv.conf or the hosts file changed, as glibc does: at
//! most one `stat` per file per [`Config::reload_interval`], and a re-read
//! when what `stat` says differs from what it said before.
//!
//! # Implementation
//!
//! A [`Stamp`] is what `stat` says that a rewrite changes: device, inode,
//! size, modification and change times (nanoseconds). An editor that
//! renames a new file into place changes the inode; one that writes in
//! place changes the times. A file that is missing has no stamp, so
//! creating or deleting it counts as a change too. [`Watch::due`] takes
//! `now`, so the interval rule is tested without a clock.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::rc::Rc;

use super::Resolver;
use crate::config::{Config, RESOLV_CONF};
use crate::hosts::Hosts;

/// What `stat` says about a file that a rewrite changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of the file at `path`, or `None` if it cannot be stat'ed.
    pub(crate) fn of(path: &Path) -> Option<Stamp> {
        Some(Stamp::of_metadata(&fs::metadata(path).ok()?))
    }

    fn of_metadata(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The bytes of the file at `path` and the stamp of what was read: `fstat`
/// of the open file, before reading it, so a rewrite after the read always
/// differs from the stamp (one during the read may be read and still be
/// taken for a change later: one re-read too many, never one too few).
/// `Ok(None)` if the file is missing.
pub(crate) fn read_stamped(path: &Path) -> io::Result<Option<(Vec<u8>, Stamp)>> {
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let stamp = Stamp::of_metadata(&file.metadata()?);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Some((bytes, stamp)))
}

/// One watched file and its stamp when it was last read.
#[derive(Debug)]
struct Watched {
    path: PathBuf,
    stamp: Option<Stamp>,
}

impl Watched {
    /// `path`, last seen as `stamp`.
    fn new(path: &Path, stamp: Option<Stamp>) -> Watched {
        Watched {
            path: path.to_path_buf(),
            stamp,
        }
    }

    /// Whether the file changed since it was last seen; remembers the new
    /// stamp.
    fn changed(&mut self) -> bool {
        let now = Stamp::of(&self.path);
        let changed = now != self.stamp;
        self.stamp = now;
        changed
    }
}

/// What changed at a check.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// resolv.conf, with its path.
    pub(crate) resolv_conf: Option<PathBuf>,
    /// The hosts file, with its path.
    pub(crate) hosts: Option<PathBuf>,
}

/// The files a resolver watches and when it last looked.
#[derive(Debug)]
pub(crate) struct Watch {
    resolv_conf: Option<Watched>,
    hosts: Option<Watched>,
    interval: Duration,
    last_check: Instant,
}

impl Watch {
    /// Watches the files `config` was read from, as they were read: its
    /// resolv.conf as [`Config::from_file`] found it (or, if `config` was
    /// not read from that file, as it is now), its hosts file as `hosts`
    /// says (its stamp before it was read); the first check is due a
    /// [`Config::reload_interval`] after `now`.
    pub(crate) fn new(config: &Config, hosts: Option<Stamp>, now: Instant) -> Watch {
        let resolv_conf = config.resolv_conf.as_deref().map(|path| {
            let stamp = config.read_stamp(path).unwrap_or_else(|| Stamp::of(path));
            Watched::new(path, stamp)
        });
        Watch {
            resolv_conf,
            hosts: config
                .use_hosts
                .then(|| Watched::new(&config.hosts_file, hosts)),
            interval: config.reload_interval,
            last_check: now,
        }
    }

    /// Whether a check is due at `now`; if so, the clock of the next one
    /// starts now.
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        if self.resolv_conf.is_none() && self.hosts.is_none() {
            return false;
        }
        let due = now.saturating_duration_since(self.last_check) >= self.interval;
        if due {
            self.last_check = now;
        }
        due
    }

    /// Stats the files and says which changed.
    pub(crate) fn check(&mut self) -> Changes {
        let changed = |w: &mut Option<Watched>| {
            let w = w.as_mut()?;
            w.changed().then(|| w.path.clone())
        };
        Changes {
            resolv_conf: changed(&mut self.resolv_conf),
            hosts: changed(&mut self.hosts),
        }
    }
}

impl Resolver {
    /// Re-reads resolv.conf and the hosts file if a check is due and they
    /// changed. A file that cannot be read now keeps the old settings; a
    /// new resolv.conf also empties the cache (its answers may come from
    /// servers no longer configured) and forgets what was learned about
    /// servers no longer configured.
    pub(crate) fn refresh(&self) {
        self.refresh_at(tern_runtime::time::now());
    }

    /// [`refresh`](Resolver::refresh) with the clock already read.
    pub(crate) fn refresh_at(&self, now: Instant) {
        let changes = {
            let mut watch = self.inner.watch.borrow_mut();
            if !watch.due(now) {
                return;
            }
            watch.check()
        };
        if let Some(path) = changes.resolv_conf {
            if let Ok(mut file) = Config::from_file(&path) {
                if path == Path::new(RESOLV_CONF) {
                    file.apply_system_overrides();
                }
                let mut config = (*self.config()).clone();
                config.take_file_settings(file);
                self.inner
                    .servers
                    .borrow_mut()
                    .keep_only(&config.nameservers);
                *self.inner.config.borrow_mut() = Rc::new(config);
                self.clear_cache();
            }
        }
        if let Some(path) = changes.hosts {
            if let Ok(hosts) = Hosts::load(&path) {
                *self.inner.hosts.borrow_mut() = Rc::new(hosts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tern-reload-{tag}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn checks_at_most_once_per_interval() {
        let dir = temp_dir("interval");
        let config = Config {
            resolv_conf: Some(dir.join("resolv.conf")),
            reload_interval: Duration::from_secs(5),
            ..Config::default()
        };
        let t0 = tern_runtime::time::now();
        let mut watch = Watch::new(&config, None, t0);
        assert!(!watch.due(t0 + Duration::from_secs(4)));
        assert!(watch.due(t0 + Duration::from_secs(5)));
        assert!(!watch.due(t0 + Duration::from_secs(9)));
        assert!(watch.due(t0 + Duration::from_secs(10)));
        // Nothing watched: never due.
        let none = Config {
            use_hosts: false,
            ..Config::default()
        };
        assert!(!Watch::new(&none, None, t0).due(t0 + Duration::from_secs(3600)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn creation_rewrite_and_removal_are_changes() {
        let dir = temp_dir("changes");
        let path = dir.join("resolv.conf");
        let config = Config {
            resolv_conf: Some(path.clone()),
            use_hosts: false,
            ..Config::default()
        };
        let mut watch = Watch::new(&config, None, tern_runtime::time::now());
        assert_eq!(watch.check(), Changes::default(), "still missing");
        fs::write(&path, "nameserver 192.0.2.1\n").unwrap();
        assert_eq!(watch.check().resolv_conf.as_deref(), Some(path.as_path()));
        assert_eq!(watch.check(), Changes::default(), "unchanged");
        // Renamed into place (a new inode), same length.
        let new = dir.join("new");
        fs::write(&new, "nameserver 192.0.2.2\n").unwrap();
        fs::rename(&new, &path).unwrap();
        assert!(watch.check().resolv_conf.is_some());
        fs::remove_file(&path).unwrap();
        assert!(watch.check().resolv_conf.is_some());
        fs::remove_dir_all(&dir).unwrap();
    }
}
