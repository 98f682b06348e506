//! The seeded train/val/test split of a session's scan ids (`voxflow new --split 0.6,0.2,0.2
//! --seed 777`).
//!
//! The ids are sorted first (so the result does not depend on the order they were found in),
//! shuffled by [`Rng`] from the seed, and cut by the fractions. Counts follow the largest
//! remainder rule (they always add up to the number of ids), then every set with a non-zero
//! fraction that came out empty takes one id from the largest set holding more than one. Each
//! set is returned sorted.

use super::{Result, SessionError};
use crate::tensor::Rng;

/// Fractions of the ids that go to train, val and test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitFractions {
    pub train: f64,
    pub val: f64,
    pub test: f64,
}

impl Default for SplitFractions {
    /// 0.6, 0.2, 0.2.
    fn default() -> Self {
        SplitFractions {
            train: 0.6,
            val: 0.2,
            test: 0.2,
        }
    }
}

impl SplitFractions {
    /// Checked fractions: each finite and ≥ 0, summing to 1 within 1e-6.
    pub fn new(train: f64, val: f64, test: f64) -> Result<Self> {
        let f = SplitFractions { train, val, test };
        f.check()?;
        Ok(f)
    }

    /// Parses `--split TRAIN,VAL,TEST`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: String| SessionError::Usage(format!("--split {s:?}: {why}"));
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [a, b, c] = parts[..] else {
            return Err(bad("expected three fractions TRAIN,VAL,TEST".into()));
        };
        let num = |x: &str| {
            x.parse::<f64>()
                .map_err(|_| bad(format!("{x:?} is not a number")))
        };
        let f = SplitFractions {
            train: num(a)?,
            val: num(b)?,
            test: num(c)?,
        };
        f.check().map_err(|e| bad(e.to_string()))?;
        Ok(f)
    }

    fn as_array(self) -> [f64; 3] {
        [self.train, self.val, self.test]
    }

    /// Each fraction finite and ≥ 0, and their sum 1 within 1e-6.
    pub fn check(&self) -> Result<()> {
        let a = self.as_array();
        if a.iter().any(|f| !f.is_finite() || *f < 0.0) {
            return Err(SessionError::Usage(format!(
                "split fractions {a:?} must be finite and >= 0"
            )));
        }
        let sum: f64 = a.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(SessionError::Usage(format!(
                "split fractions {a:?} add up to {sum}, not 1"
            )));
        }
        Ok(())
    }

    /// How many of `n` ids each set gets (adds up to `n`).
    pub fn counts(&self, n: usize) -> [usize; 3] {
        let f = self.as_array();
        let sum: f64 = f.iter().sum();
        let exact = f.map(|x| x / sum * n as f64);
        let mut counts = exact.map(|x| x.floor() as usize);
        let given: usize = counts.iter().sum();
        let mut order = [0, 1, 2];
        // Largest fractional remainder first; ties go to the earlier set.
        order.sort_by(|&i, &j| {
            let (ri, rj) = (exact[i] - counts[i] as f64, exact[j] - counts[j] as f64);
            rj.total_cmp(&ri).then(i.cmp(&j))
        });
        for &k in order.iter().take(n.saturating_sub(given)) {
            counts[k] += 1;
        }
        for k in 0..3 {
            if f[k] > 0.0 && counts[k] == 0 {
                let donor = (0..3)
                    .filter(|&j| counts[j] > 1)
                    .max_by(|&i, &j| counts[i].cmp(&counts[j]).then(j.cmp(&i)));
                if let Some(j) = donor {
                    counts[j] -= 1;
                    counts[k] += 1;
                }
            }
        }
        counts
    }
}

/// The three id lists of a split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<String>,
    pub val: Vec<String>,
    pub test: Vec<String>,
}

/// Splits `ids` (duplicates are an error) by `fractions`, deterministically for `seed`.
pub fn split_ids(ids: &[String], fractions: SplitFractions, seed: u64) -> Result<Split> {
    fractions.check()?;
    if ids.is_empty() {
        return Err(SessionError::Usage("no scan ids to split".into()));
    }
    let mut all = ids.to_vec();
    all.sort();
    if let Some(w) = all.windows(2).find(|w| w[0] == w[1]) {
        return Err(SessionError::Usage(format!(
            "scan id {:?} is listed twice",
            w[0]
        )));
    }
    Rng::new(seed).shuffle(&mut all);
    let [n_train, n_val, _] = fractions.counts(all.len());
    let mut test = all.split_off(n_train + n_val);
    let mut val = all.split_off(n_train);
    let mut train = all;
    for set in [&mut train, &mut val, &mut test] {
        set.sort();
    }
    Ok(Split { train, val, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("scan{i:03}")).collect()
    }

    #[test]
    fn counts_follow_the_fractions_and_fill_every_wanted_set() {
        let d = SplitFractions::default();
        assert_eq!(d.counts(10), [6, 2, 2]);
        assert_eq!(d.counts(11), [7, 2, 2]);
        assert_eq!(d.counts(3), [1, 1, 1]);
        assert_eq!(d.counts(4), [2, 1, 1]);
        assert_eq!(d.counts(2), [1, 1, 0], "not enough ids for every set");
        assert_eq!(d.counts(1), [1, 0, 0]);
        let f = SplitFractions::new(0.9, 0.1, 0.0).unwrap();
        assert_eq!(f.counts(5), [4, 1, 0]);
        let f = SplitFractions::new(0.98, 0.01, 0.01).unwrap();
        assert_eq!(f.counts(10), [8, 1, 1]);
        let f = SplitFractions::new(1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0).unwrap();
        assert_eq!(f.counts(100), [34, 33, 33]);
        for n in 1..60 {
            assert_eq!(d.counts(n).iter().sum::<usize>(), n);
        }
    }

    #[test]
    fn split_is_deterministic_disjoint_and_complete() {
        let all = ids(20);
        let a = split_ids(&all, SplitFractions::default(), 777).unwrap();
        let mut shuffled = all.clone();
        shuffled.reverse();
        assert_eq!(
            split_ids(&shuffled, SplitFractions::default(), 777).unwrap(),
            a,
            "input order does not matter"
        );
        assert_ne!(
            split_ids(&all, SplitFractions::default(), 778).unwrap(),
            a,
            "the seed does"
        );
        assert_eq!((a.train.len(), a.val.len(), a.test.len()), (12, 4, 4));
        let mut joined: Vec<String> = [a.train.clone(), a.val.clone(), a.test.clone()].concat();
        joined.sort();
        assert_eq!(joined, all);
        assert!(a.train.windows(2).all(|w| w[0] < w[1]), "each set sorted");
        assert_ne!(a.train, all[..12], "shuffled, not cut in order");
    }

    #[test]
    fn bad_fractions_and_ids_are_errors() {
        for (s, needle) in [
            ("0.6,0.2", "three"),
            ("0.6,0.2,0.3", "add up"),
            ("0.6,x,0.4", "\"x\""),
            ("1.2,-0.2,0", ">= 0"),
            ("nan,0.5,0.5", ">= 0"),
        ] {
            let e = SplitFractions::parse(s).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains("--split"), "{s}: {e}");
        }
        assert_eq!(
            SplitFractions::parse(" 0.7, 0.2 ,0.1").unwrap(),
            SplitFractions::new(0.7, 0.2, 0.1).unwrap()
        );
        assert!(SplitFractions::new(0.6, 0.2, 0.2 + 5e-7).is_ok());
        assert!(split_ids(&[], SplitFractions::default(), 1).is_err());
        let dup = vec!["a".to_string(), "b".into(), "a".into()];
        assert!(
            split_ids(&dup, SplitFractions::default(), 1)
                .unwrap_err()
                .to_string()
                .contains("\"a\"")
        );
    }
}
