//! Property test: any sequence of append / read+ack / peek / reopen on the spool yields the same
//! records, in the same order, as a `VecDeque` model, under every fsync policy; damage at the tail is
//! detected and counted.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::Write;
use std::time::Duration;

use proptest::prelude::*;
use schema::{FsyncPolicy, Spool};

#[derive(Clone, Debug)]
enum Op {
    Append(Vec<u8>),
    /// Peek, then ack when the flag is set.
    Read(bool),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Op::Append),
        4 => any::<bool>().prop_map(Op::Read),
        1 => Just(Op::Reopen),
    ]
}

fn policy() -> impl Strategy<Value = FsyncPolicy> {
    prop_oneof![
        Just(FsyncPolicy::Batch),
        // Short enough that some appends and acks find it due and some do not.
        Just(FsyncPolicy::Interval(Duration::from_millis(1))),
        Just(FsyncPolicy::Never),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn spool_behaves_like_a_fifo_across_reopens(
        ops in proptest::collection::vec(op(), 1..120),
        fsync in policy(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        // A 256 KiB bound => 32 KiB segments, so rolling, segment deletion and "full" are exercised.
        let max = 256 << 10;
        let mut spool = Spool::open_with(dir.path(), max, fsync).unwrap();
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        for op in ops {
            match op {
                Op::Append(p) => match spool.append(&p) {
                    Ok(()) => model.push_back(p),
                    Err(schema::SpoolError::Full { used, max: m }) => {
                        prop_assert!(used + 8 + p.len() as u64 > m, "refused while it fit");
                    }
                    Err(e) => panic!("append: {e}"),
                },
                Op::Read(ack) => {
                    let got = spool.peek().unwrap().map(<[u8]>::to_vec);
                    prop_assert_eq!(got.as_ref(), model.front());
                    if ack {
                        spool.ack().unwrap();
                        model.pop_front();
                    }
                }
                Op::Reopen => {
                    drop(spool);
                    spool = Spool::open_with(dir.path(), max, fsync).unwrap();
                }
            }
            prop_assert_eq!(spool.len(), model.len() as u64);
        }
        drop(spool);
        let mut spool = Spool::open_with(dir.path(), max, fsync).unwrap();
        while let Some(p) = spool.peek().unwrap().map(<[u8]>::to_vec) {
            prop_assert_eq!(Some(&p), model.front());
            spool.ack().unwrap();
            model.pop_front();
        }
        prop_assert!(model.is_empty());
        prop_assert_eq!(spool.counters(), schema::SpoolCounters::default());
    }

    #[test]
    fn any_torn_tail_loses_only_the_torn_record(
        records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..500), 1..20),
        cut in 1usize..7,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 64 << 20).unwrap();
        for r in &records {
            spool.append(r).unwrap();
        }
        drop(spool);
        // Cut the last record short by `cut` bytes (or leave a partial header).
        let seg = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .max()
            .unwrap();
        let len = std::fs::metadata(&seg).unwrap().len();
        let last = records.last().unwrap().len() as u64 + 8;
        let keep = len - last.min(cut as u64);
        OpenOptions::new().write(true).open(&seg).unwrap().set_len(keep).unwrap();
        // And fewer junk bytes than were cut, so the record stays short.
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&vec![0xff; cut - 1]).unwrap();
        drop(f);
        let mut spool = Spool::open(dir.path(), 64 << 20).unwrap();
        prop_assert_eq!(spool.counters().torn_tails, 1);
        let mut got = Vec::new();
        while let Some(p) = spool.peek().unwrap().map(<[u8]>::to_vec) {
            got.push(p);
            spool.ack().unwrap();
        }
        prop_assert_eq!(&got[..], &records[..records.len() - 1]);
    }
}
