//! The four training generators of SPEC 5.4 (`--gen luna | luna_seg | atlas | atlas_seg`):
//! which scans are paired, in which order, and the tensors a batch holds.
//!
//! A [`PairGenerator`] is pure index logic: it yields [`Pair`]s (source id, target id) in a
//! seeded order that is reshuffled every epoch, endlessly for training, and its [`GenState`]
//! (epoch, position) can be saved and restored so that a resumed run sees exactly the pairs an
//! uninterrupted one would. [`assemble`] turns pairs into a [`Batch`] of tensors by asking a
//! [`VolumeSource`] for preprocessed volumes; images and their masks are always fetched by the
//! same id, so they can never be desynchronized.

use crate::data::error::{DataError, DataResult};
use crate::tensor::{Device, Rng, Tensor};
use std::sync::Arc;

/// Which generator (`--gen`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenKind {
    /// Pairs of distinct scans.
    Luna,
    /// Pairs of distinct scans, with the source mask as input and the target mask as target.
    LunaSeg,
    /// Every scan registered to the atlas scan.
    Atlas,
    /// Every scan registered to the atlas scan, with masks.
    AtlasSeg,
}

impl GenKind {
    /// The `--gen` name.
    pub fn name(self) -> &'static str {
        match self {
            GenKind::Luna => "luna",
            GenKind::LunaSeg => "luna_seg",
            GenKind::Atlas => "atlas",
            GenKind::AtlasSeg => "atlas_seg",
        }
    }

    /// True for the `_seg` generators (masks in and out).
    pub fn uses_masks(self) -> bool {
        matches!(self, GenKind::LunaSeg | GenKind::AtlasSeg)
    }

    /// True for the atlas generators.
    pub fn uses_atlas(self) -> bool {
        matches!(self, GenKind::Atlas | GenKind::AtlasSeg)
    }
}

impl std::str::FromStr for GenKind {
    type Err = DataError;
    fn from_str(s: &str) -> DataResult<Self> {
        match s {
            "luna" => Ok(GenKind::Luna),
            "luna_seg" => Ok(GenKind::LunaSeg),
            "atlas" => Ok(GenKind::Atlas),
            "atlas_seg" => Ok(GenKind::AtlasSeg),
            _ => Err(DataError::Dataset(format!(
                "unknown generator {s:?}: expected luna, luna_seg, atlas or atlas_seg"
            ))),
        }
    }
}

/// One registration sample: warp `src` onto `tgt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub src: String,
    pub tgt: String,
}

impl Pair {
    /// `src->tgt`, the sample id of score tables.
    pub fn label(&self) -> String {
        format!("{}->{}", self.src, self.tgt)
    }
}

/// Where a generator is in its endless sequence: enough to continue exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GenState {
    /// Epochs of pairs fully or partly consumed (0-based epoch of the next pair).
    pub epoch: u64,
    /// Index of the next pair within that epoch's order.
    pub cursor: usize,
}

/// Seeded, endless, reshuffled-per-epoch sequence of pairs for one generator kind.
#[derive(Clone, Debug)]
pub struct PairGenerator {
    kind: GenKind,
    ids: Vec<String>,
    atlas: Option<String>,
    batch_size: usize,
    seed: u64,
    state: GenState,
    order: Vec<Pair>,
}

impl PairGenerator {
    /// A generator over `ids` (ids are used exactly as given, in the given order before
    /// shuffling). Atlas kinds need `atlas`; pair kinds need at least two ids.
    pub fn new(
        kind: GenKind,
        ids: Vec<String>,
        atlas: Option<String>,
        batch_size: usize,
        seed: u64,
    ) -> DataResult<Self> {
        check(kind, &ids, atlas.as_deref(), batch_size)?;
        let mut g = PairGenerator {
            kind,
            ids,
            atlas,
            batch_size,
            seed,
            state: GenState::default(),
            order: vec![],
        };
        g.order = g.epoch_order(0);
        Ok(g)
    }

    /// Pairs per epoch (each scan is a source once per epoch).
    pub fn pairs_per_epoch(&self) -> usize {
        self.order.len()
    }

    /// Samples per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The current position.
    pub fn state(&self) -> GenState {
        self.state
    }

    /// Continues from a saved position.
    pub fn restore(&mut self, state: GenState) -> DataResult<()> {
        let order = self.epoch_order(state.epoch);
        if state.cursor > order.len() {
            return Err(DataError::Dataset(format!(
                "generator position {} is past the {} pairs of an epoch",
                state.cursor,
                order.len()
            )));
        }
        self.order = order;
        self.state = state;
        Ok(())
    }

    /// The next `batch_size` pairs; crosses into the next (reshuffled) epoch when needed.
    pub fn next_batch(&mut self) -> Vec<Pair> {
        let mut out = Vec::with_capacity(self.batch_size);
        while out.len() < self.batch_size {
            if self.state.cursor == self.order.len() {
                self.state = GenState {
                    epoch: self.state.epoch + 1,
                    cursor: 0,
                };
                self.order = self.epoch_order(self.state.epoch);
            }
            out.push(self.order[self.state.cursor].clone());
            self.state.cursor += 1;
        }
        out
    }

    /// The pairs of one epoch: a seeded permutation of the sources, each with its target.
    fn epoch_order(&self, epoch: u64) -> Vec<Pair> {
        let mut rng = Rng::new(
            self.seed
                .wrapping_mul(0x2545_F491_4F6C_DD1D)
                .wrapping_add(epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
        let mut sources = sources(&self.ids, self.atlas.as_deref(), self.kind);
        rng.shuffle(&mut sources);
        match &self.atlas {
            Some(atlas) if self.kind.uses_atlas() => sources
                .into_iter()
                .map(|src| Pair {
                    src,
                    tgt: atlas.clone(),
                })
                .collect(),
            _ => sources
                .into_iter()
                .map(|src| {
                    let others: Vec<&String> = self.ids.iter().filter(|i| **i != src).collect();
                    let tgt = others[rng.below(others.len())].clone();
                    Pair { src, tgt }
                })
                .collect(),
        }
    }
}

fn check(kind: GenKind, ids: &[String], atlas: Option<&str>, batch_size: usize) -> DataResult<()> {
    let name = kind.name();
    if batch_size == 0 {
        return Err(DataError::Dataset(format!(
            "{name}: batch size must be at least 1"
        )));
    }
    if kind.uses_atlas() {
        let Some(atlas) = atlas else {
            return Err(DataError::Dataset(format!(
                "{name}: the atlas generators need an atlas scan id (config `atlas_id`, or \
                 `--atlas ID` when creating the session)"
            )));
        };
        if ids.iter().all(|i| i == atlas) {
            let why = if ids.is_empty() {
                "the id list is empty"
            } else {
                "the id list holds only the atlas"
            };
            return Err(DataError::Dataset(format!(
                "{name}: no scans to register to atlas {atlas} ({why})"
            )));
        }
    } else {
        let mut distinct = ids.to_vec();
        distinct.sort();
        distinct.dedup();
        if distinct.len() < 2 {
            return Err(DataError::Dataset(format!(
                "{name}: pairs of distinct scans need at least 2 ids, got {}",
                distinct.len()
            )));
        }
    }
    Ok(())
}

/// The source scans of an epoch: every id (the atlas itself excluded for atlas kinds).
fn sources(ids: &[String], atlas: Option<&str>, kind: GenKind) -> Vec<String> {
    ids.iter()
        .filter(|i| !(kind.uses_atlas() && Some(i.as_str()) == atlas))
        .cloned()
        .collect()
}

/// Every sample once, unshuffled, for evaluation: each id as source (the atlas excluded for
/// atlas kinds), paired with the atlas, or with the next id in the list (cyclically).
pub fn single_pass(kind: GenKind, ids: &[String], atlas: Option<&str>) -> DataResult<Vec<Pair>> {
    check(kind, ids, atlas, 1)?;
    let srcs = sources(ids, atlas, kind);
    Ok(match atlas {
        Some(a) if kind.uses_atlas() => srcs
            .into_iter()
            .map(|src| Pair {
                src,
                tgt: a.to_string(),
            })
            .collect(),
        _ => (0..ids.len())
            .map(|i| {
                let mut j = (i + 1) % ids.len();
                while ids[j] == ids[i] {
                    j = (j + 1) % ids.len();
                }
                Pair {
                    src: ids[i].clone(),
                    tgt: ids[j].clone(),
                }
            })
            .collect(),
    })
}

/// Preprocessed volumes by scan id, on one grid (`[D, H, W]` values, z-major).
pub trait VolumeSource: Send + Sync {
    /// The grid every volume is on.
    fn grid(&self) -> [usize; 3];
    /// The preprocessed image of scan `id`.
    fn image(&self, id: &str) -> DataResult<Arc<Vec<f32>>>;
    /// The preprocessed {0,1} lung mask of scan `id`.
    fn mask(&self, id: &str) -> DataResult<Arc<Vec<f32>>>;
    /// Whether scan `id` has a lung mask at all (then [`VolumeSource::mask`] failing is an
    /// error to report, not a mask to do without).
    fn has_mask(&self, id: &str) -> bool;
}

/// The tensors of one batch, `[N, D, H, W, C]` on the CPU.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The samples, in batch order.
    pub pairs: Vec<Pair>,
    /// Moving images (input).
    pub src: Tensor,
    /// Fixed images (input, and the target of the warped output).
    pub tgt: Tensor,
    /// Moving masks (input of the `_seg` generators).
    pub src_mask: Option<Tensor>,
    /// Fixed masks (target of the warped mask, `_seg` generators).
    pub tgt_mask: Option<Tensor>,
    /// The identity spatial gradient, 0.5 everywhere `[N, D, H, W, 3]` (target of the
    /// gradient output before the `2·sigmoid` scaling).
    pub identity_gradient: Tensor,
    /// The identity affine residual, zeros `[N, 12]` (MariaNet's linear head target).
    pub identity_affine: Option<Tensor>,
}

impl Batch {
    /// The same batch with every tensor on `device` (the loader assembles batches on the CPU).
    pub fn to_device(self, device: Device) -> crate::Result<Batch> {
        let move_opt = |t: Option<Tensor>| t.map(|t| t.to_device(device)).transpose();
        Ok(Batch {
            pairs: self.pairs,
            src: self.src.to_device(device)?,
            tgt: self.tgt.to_device(device)?,
            src_mask: move_opt(self.src_mask)?,
            tgt_mask: move_opt(self.tgt_mask)?,
            identity_gradient: self.identity_gradient.to_device(device)?,
            identity_affine: move_opt(self.identity_affine)?,
        })
    }
}

fn stack(vols: &[Arc<Vec<f32>>], grid: [usize; 3]) -> DataResult<Tensor> {
    let per: usize = grid.iter().product();
    let mut data = Vec::with_capacity(per * vols.len());
    for v in vols {
        if v.len() != per {
            return Err(DataError::Dataset(format!(
                "a preprocessed volume holds {} values, not the {per} of grid {grid:?}",
                v.len()
            )));
        }
        data.extend_from_slice(v);
    }
    let [d, h, w] = grid;
    Tensor::from_vec(data, [vols.len(), d, h, w, 1], Device::Cpu)
        .map_err(|e| DataError::Dataset(e.to_string()))
}

/// Loads the volumes of `pairs` from `source` and builds their batch. Each image and its mask
/// are fetched with the same id.
pub fn assemble(
    kind: GenKind,
    pairs: Vec<Pair>,
    source: &dyn VolumeSource,
    with_affine: bool,
) -> DataResult<Batch> {
    let grid = source.grid();
    let fetch = |f: &dyn Fn(&str) -> DataResult<Arc<Vec<f32>>>, pick: fn(&Pair) -> &str| {
        let vols = pairs
            .iter()
            .map(|p| f(pick(p)))
            .collect::<DataResult<Vec<_>>>()?;
        stack(&vols, grid)
    };
    let src = fetch(&|id| source.image(id), |p| &p.src)?;
    let tgt = fetch(&|id| source.image(id), |p| &p.tgt)?;
    let (src_mask, tgt_mask) = if kind.uses_masks() {
        (
            Some(fetch(&|id| source.mask(id), |p| &p.src)?),
            Some(fetch(&|id| source.mask(id), |p| &p.tgt)?),
        )
    } else {
        (None, None)
    };
    let n = pairs.len();
    let [d, h, w] = grid;
    let err = |e: crate::Error| DataError::Dataset(e.to_string());
    let identity_gradient = Tensor::full(0.5, [n, d, h, w, 3], Device::Cpu).map_err(err)?;
    let identity_affine = if with_affine {
        Some(Tensor::zeros([n, 12], Device::Cpu).map_err(err)?)
    } else {
        None
    };
    Ok(Batch {
        pairs,
        src,
        tgt,
        src_mask,
        tgt_mask,
        identity_gradient,
        identity_affine,
    })
}

#[cfg(test)]
mod tests;
