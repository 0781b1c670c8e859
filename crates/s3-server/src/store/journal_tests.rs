//! The journal against a real temporary directory: what a crash after a synced frame
//! leaves is put in place by the next open; torn frames, older epochs and deleted buckets
//! are not replayed; frames larger than the journal are refused.

#![allow(clippy::unwrap_used)]

use super::*;

struct Dir {
    root: PathBuf,
}

impl Dir {
    fn new() -> Self {
        let root = std::env::temp_dir().join(format!(
            "coffer-journal-test-{}",
            crate::store::fs::random_id()
        ));
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::fs::write(root.join("b").join("bucket.json"), "{}").unwrap();
        Self { root }
    }

    fn journal(&self) -> PathBuf {
        self.root.join("journal")
    }

    fn open(&self) -> (Journal, u64) {
        Journal::open(&self.root, &self.journal(), &self.root.join("tmp")).unwrap()
    }

    /// The path of key number `n`'s record in bucket `bucket`.
    fn record(&self, bucket: &str, n: u8) -> PathBuf {
        let h = format!("{n:02x}{}", "0".repeat(62));
        self.root
            .join(bucket)
            .join("objects")
            .join(&h[..2])
            .join(format!("{h}.meta"))
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn write<'a>(path: &'a Path, record: &'a [u8]) -> Entry<'a> {
    Entry::Write { path, record }
}

#[test]
fn synced_frames_are_put_in_place_by_the_next_open() {
    let d = Dir::new();
    let (a, b) = (d.record("b", 1), d.record("b", 2));
    {
        let (mut j, replayed) = d.open();
        assert_eq!(replayed, 0);
        assert!(j.append(&[write(&a, b"one"), write(&b, b"two")]).unwrap());
        assert!(j.append(&[write(&a, b"one again")]).unwrap());
        assert!(j.append(&[Entry::Remove { path: &b }]).unwrap());
        // Dropped without a checkpoint: as after a crash before the renames.
    }
    assert!(!a.exists() && !b.exists());
    let (j, replayed) = d.open();
    assert_eq!(replayed, 3);
    assert_eq!(std::fs::read(&a).unwrap(), b"one again");
    assert!(!b.exists());
    assert_eq!(j.frames(), 0, "replayed frames are checkpointed");
    drop(j);
    // Replayed once: the next open finds nothing.
    std::fs::remove_file(&a).unwrap();
    let (_, replayed) = d.open();
    assert_eq!(replayed, 0);
    assert!(!a.exists());
}

#[test]
fn a_torn_frame_ends_the_replay() {
    let d = Dir::new();
    let (a, b) = (d.record("b", 1), d.record("b", 2));
    {
        let (mut j, _) = d.open();
        assert!(j.append(&[write(&a, b"first")]).unwrap());
        let second = j.offset;
        assert!(j.append(&[write(&b, b"second")]).unwrap());
        // The last byte of the second frame never reached the disk.
        let end = j.offset - 1;
        j.file().unwrap().write_all_at(b"X", end).unwrap();
        assert!(second < end);
    }
    let (_, replayed) = d.open();
    assert_eq!(replayed, 1);
    assert_eq!(std::fs::read(&a).unwrap(), b"first");
    assert!(!b.exists());
}

#[test]
fn frames_before_a_checkpoint_are_not_replayed() {
    let d = Dir::new();
    let a = d.record("b", 1);
    {
        let (mut j, _) = d.open();
        assert!(j.append(&[write(&a, b"old")]).unwrap());
        j.checkpoint().unwrap();
    }
    // The record was removed since (by an operator, say): the old frame must not
    // bring it back.
    assert!(!a.exists(), "appending does not apply");
    let (_, replayed) = d.open();
    assert_eq!(replayed, 0);
    assert!(!a.exists());
}

#[test]
fn records_of_a_deleted_bucket_are_skipped() {
    let d = Dir::new();
    let gone = d.record("gone", 1);
    {
        let (mut j, _) = d.open();
        assert!(j.append(&[write(&gone, b"x")]).unwrap());
    }
    let (_, replayed) = d.open();
    assert_eq!(replayed, 1);
    assert!(!d.root.join("gone").exists());
}

#[test]
fn the_journal_grows_for_large_frames_and_refuses_larger_than_its_limit() {
    let d = Dir::new();
    let a = d.record("b", 1);
    let big = vec![7u8; (INITIAL_LEN + (1 << 20)) as usize];
    {
        let (mut j, _) = d.open();
        assert!(j.append(&[write(&a, &big)]).unwrap());
        assert!(j.len > INITIAL_LEN);
        let huge = vec![0u8; MAX_LEN as usize];
        assert!(!j.append(&[write(&a, &huge)]).unwrap());
    }
    let (_, replayed) = d.open();
    assert_eq!(replayed, 1);
    assert_eq!(std::fs::read(&a).unwrap(), big);
}

#[test]
fn a_full_journal_checkpoints_and_starts_over() {
    let d = Dir::new();
    let record = vec![1u8; 3 << 20];
    let paths: Vec<PathBuf> = (0..30).map(|n| d.record("b", n)).collect();
    {
        let (mut j, _) = d.open();
        // 90 MiB of frames through a journal of at most 64 MiB.
        for p in &paths {
            assert!(j.append(&[write(p, &record)]).unwrap());
        }
        assert!(j.len <= MAX_LEN);
        assert!(j.epoch > 1, "a checkpoint ran");
        assert!(j.frames() < 30);
    }
    let (_, replayed) = d.open();
    assert!(replayed > 0 && replayed < 30, "{replayed}");
    // Only the frames after the checkpoint were replayed (appending does not apply).
    assert!(!paths[0].exists());
    assert!(paths[29].exists());
}

#[test]
fn a_checked_frame_that_does_not_parse_stops_the_open() {
    let d = Dir::new();
    {
        let (j, _) = d.open();
        let mut frame = Vec::new();
        frame.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(&j.epoch.to_le_bytes());
        frame.extend_from_slice(&0u64.to_le_bytes());
        let payload = [9u8, 0, 0];
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&payload);
        let crc = crc32fast::hash(&frame[8..]);
        frame[4..8].copy_from_slice(&crc.to_le_bytes());
        j.file().unwrap().write_all_at(&frame, HEADER_LEN).unwrap();
    }
    let err = Journal::open(&d.root, &d.journal(), &d.root.join("tmp")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}

#[test]
fn only_record_paths_are_accepted() {
    let h = "ab".to_string() + &"0".repeat(62);
    assert!(check_record_path(&format!("b/objects/ab/{h}.meta")).is_ok());
    for bad in [
        format!("../objects/ab/{h}.meta"),
        format!(".coffer.sys/objects/ab/{h}.meta"),
        format!("b/objects/cd/{h}.meta"),
        format!("b/objects/ab/{h}.data"),
        format!("b/other/ab/{h}.meta"),
        format!("/b/objects/ab/{h}.meta"),
        format!("b/objects/ab/{h}x.meta"),
        "b/objects/ab/../../../etc.meta".to_string(),
    ] {
        assert!(check_record_path(&bad).is_err(), "{bad}");
    }
}
