//! Exports and backups are tar archives: small JSON documents and the pack's audio files,
//! written from and read into a work folder (files stream; nothing is held whole in memory).

use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Writes `docs` (name, bytes) and `files` (name in the archive, local path) to `dest`.
pub fn write(dest: &Path, docs: &[(String, Vec<u8>)], files: &[(String, PathBuf)]) -> io::Result<()> {
    let mut tar = tar::Builder::new(File::create(dest)?);
    for (name, bytes) in docs {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes.as_slice())?;
    }
    for (name, path) in files {
        tar.append_path_with_name(path, name)?;
    }
    tar.into_inner()?.sync_all()
}

/// Unpacks `src` under `into`, refusing entries that would land outside it; the names and
/// where each landed.
pub fn read(src: &Path, into: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut tar = tar::Archive::new(File::open(src)?);
    let mut out = Vec::new();
    for entry in tar.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path()?.into_owned();
        if name.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "an archive entry names a path outside it",
            ));
        }
        let dest = into.join(&name);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)?;
        }
        entry.unpack(&dest)?;
        out.push((name.to_string_lossy().into_owned(), dest));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_and_files_come_back_as_written_and_nothing_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let audio = dir.path().join("a.wav");
        std::fs::write(&audio, vec![7u8; 3000]).unwrap();
        let tar = dir.path().join("x.tar");
        write(&tar, &[("m/model.json".into(), b"{}".to_vec())], &[("m/pack/a.wav".into(), audio)]).unwrap();
        let out = dir.path().join("out");
        let got = read(&tar, &out).unwrap();
        let names: Vec<_> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["m/model.json", "m/pack/a.wav"]);
        assert_eq!(std::fs::read(&got[1].1).unwrap(), vec![7u8; 3000]);

        let mut evil = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_cksum();
        // A name the builder refuses to set is still what a hostile archive can carry.
        h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../x.json");
        h.set_cksum();
        evil.append(&h, &b"x"[..]).unwrap();
        let bad = dir.path().join("bad.tar");
        std::fs::write(&bad, evil.into_inner().unwrap()).unwrap();
        assert!(read(&bad, &dir.path().join("o2")).is_err());
        assert!(!dir.path().join("x.json").exists());
    }
}
